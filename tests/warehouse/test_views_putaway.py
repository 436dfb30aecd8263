"""The put-away scanner screen, its navigation entry and the home page card."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from erp.extensions import db
from erp.warehouse.models import PutawayState, PutawayTask, StockLevel, StockMove

URL = "/warehouse/putaway"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def autofocused(page: str, name: str) -> bool:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    return bool(match) and "autofocus" in match.group(0)


def field_value(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    value = re.search(r'value="([^"]*)"', match.group(0)) if match else None
    return value.group(1) if value else None


def on_hand(sku_id: int, location_id: int) -> int:
    db.session.expire_all()
    level = db.session.get(StockLevel, (sku_id, location_id))
    return level.on_hand if level else 0


def move_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StockMove))


@pytest.fixture
def waiting(dummy_sku, create_bin, receive_stock):
    """Return ``(task, receiving bin, suggested bin)``: 12 of TS-RED-M in RCV-01, committed."""
    dock = create_bin("RCV-01", kind="receiving", pick_sequence=1)
    shelf = create_bin("A-01-01-01", pick_sequence=100)
    create_bin("A-01-01-02", pick_sequence=110)
    create_bin("QUA-01", kind="quarantine")
    receive_stock(dummy_sku, shelf, 1)
    receive_stock(dummy_sku, dock, 12)
    db.session.commit()
    task = db.session.scalar(select(PutawayTask))
    return task, dock, shelf


def test_screen_lists_open_tasks_and_is_made_for_a_scanner(client, login_as, waiting):
    task, _, _ = waiting
    login_as("warehouse")
    page = text(client.get(URL))
    assert 'class="scanform"' in page
    assert autofocused(page, "scan")
    screen = page.split("<main", 1)[1]  # the screen, not the header
    names = re.findall(r'<input[^>]*name="(\w+)"', screen)
    assert [n for n in names if n not in ("csrf_token", "_submission")] == [
        "scan", "quantity", "bin"]
    assert re.search(r'<input[^>]*name="bin"[^>]*required', page)  # Enter moves on to it
    assert "1 task · 12 units waiting" in page
    assert task.number in page
    assert "RCV-01 → A-01-01-01" in re.sub(r"<[^>]+>", "", page)
    assert f'href="/warehouse/putaway?scan={task.number}"' in page
    assert 'name="viewport"' in page
    assert "<script>" not in page  # CSP: scripts and styles come from static files only
    assert "style=" not in page


def test_scanning_the_task_alone_shows_it_and_asks_for_the_bin(client, login_as, waiting):
    task, _, _ = waiting
    login_as("warehouse")
    response = client.post(URL, data={"scan": "4006381333931", "bin": ""})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{URL}?scan={task.number}")
    page = text(client.get(response.headers["Location"]))
    assert field_value(page, "scan") == task.number
    assert autofocused(page, "bin")
    assert "Put into A-01-01-01" in re.sub(r"<[^>]+>", "", page)
    assert "12 of 12 left" in page


def test_scan_task_and_bin_puts_the_goods_away(client, login_as, waiting):
    task, dock, shelf = waiting
    login_as("warehouse")
    response = client.post(URL, data={"scan": task.number, "bin": "a-01-01-01"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(URL)
    page = text(client.get(URL))
    assert (f"Put 12 × TS-RED-M from WH1/RCV-01 into WH1/A-01-01-01: task {task.number} "
            "done.") in page
    assert "Nothing waits to be put away." in page
    assert autofocused(page, "scan")
    assert (on_hand(task.sku_id, dock.id), on_hand(task.sku_id, shelf.id)) == (0, 13)
    db.session.expire_all()
    assert db.session.get(PutawayTask, task.id).state == PutawayState.done


def test_a_smaller_quantity_keeps_the_task_on_screen(client, login_as, waiting):
    task, dock, _ = waiting
    login_as("warehouse")
    response = client.post(URL, data={"scan": "TS-RED-M", "quantity": "5", "bin": "A-01-01-02"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{URL}?scan={task.number}")
    page = text(client.get(response.headers["Location"]))
    assert f"task {task.number} has 7 left." in page
    assert autofocused(page, "bin")
    assert on_hand(task.sku_id, dock.id) == 7


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"bin": "QUA-01"}, "bin", "choose a storage bin; this one is a quarantine bin"),
    ({"bin": "RCV-01"}, "bin", "this one is a receiving bin"),
    ({"bin": "NOPE-1"}, "bin", "No active bin has the code 'NOPE-1'."),
    ({"bin": "A-01-01-01", "quantity": "13"}, "quantity", "stay within what is left: 12"),
    ({"scan": "NOPE", "bin": "A-01-01-01"}, "scan", 'No SKU has the code or barcode "NOPE"'),
], ids=["quarantine", "receiving", "unknown-bin", "too-many", "unknown-scan"])
def test_refusals_show_the_reason_at_the_field_and_move_nothing(client, login_as, waiting,
                                                                 data, field, message):
    task, dock, _ = waiting
    login_as("warehouse")
    before = move_count()
    response = client.post(URL, data={"scan": task.number, **data})
    assert response.status_code == 422
    page = text(response)
    block = re.search(rf'<div class="field has-error[^"]*">\s*<label for="{field}".*?</div>\s*'
                      r"</div>", page, re.S)
    assert block, page
    assert message in block.group(0)
    assert autofocused(page, field)
    assert move_count() == before
    assert on_hand(task.sku_id, dock.id) == 12


def test_the_same_scan_twice_moves_once(client, login_as, waiting):
    task, dock, shelf = waiting
    login_as("warehouse")
    data = {"scan": task.number, "bin": "A-01-01-01"}
    assert client.post(URL, data=data).status_code == 302
    moves = move_count()
    response = client.post(URL, data=data)
    assert response.status_code == 422
    assert f"Put-away task {task.number} is done; nothing is left to put away." in text(response)
    assert move_count() == moves
    assert on_hand(task.sku_id, shelf.id) == 13


def test_home_page_shows_what_waits_to_be_put_away(client, login_as, waiting):
    login_as("warehouse")
    page = text(client.get("/"))
    card = re.search(r'<a class="stat" href="/warehouse/putaway">(.*?)</a>', page, re.S)
    assert card, page
    assert re.search(r'stat-count">1<', card.group(1))
    assert "Put-away tasks open" in card.group(1)
    assert "12 units in receiving bins" in card.group(1)
    assert 'href="/warehouse/putaway"' in page.split("</nav>")[0]  # the menu entry


def test_roles_without_warehouse_move_see_no_card_and_no_screen(client, login_as, waiting):
    login_as("manager")
    assert "/warehouse/putaway" not in text(client.get("/"))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={"scan": "x", "bin": "y"}).status_code == 403
