"""Profile the signed-in home page (the ``dashboard_rps`` workload) with cProfile.

Usage, from the tree's root::

    python -m bench.profile_home [N] [--stats FILE] [--queries]

Prints the requests per second and the CPU time a page (the machine is shared: CPU time is the
steadier figure), the queries per home page, and the top functions by cumulative time.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections import Counter

from bench.runner import make_app, temp_database


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv and argv[0].isdigit() else 300
    profile = "--no-profile" not in argv
    from sqlalchemy import event

    from erp.core import services
    from erp.extensions import db as sqla

    with temp_database("sqlite", quick=False) as db:
        app = make_app(db)
        with app.app_context():
            services.create_user(username="manager", full_name="Bench Manager",
                                 password="bench-password-1", roles=["manager", "admin"],
                                 actor=None)
            sqla.session.commit()
            engine = sqla.engine
        client = app.test_client()
        response = client.post("/login", data={"username": "manager",
                                               "password": "bench-password-1"})
        assert response.status_code == 302
        for _ in range(20):
            assert client.get("/").status_code == 200
        statements: Counter = Counter()

        def count(conn, cursor, statement, parameters, context, executemany):
            statements[" ".join(statement.split())[:160]] += 1

        event.listen(engine, "before_cursor_execute", count)
        assert client.get("/").status_code == 200
        event.remove(engine, "before_cursor_execute", count)
        print(f"queries per home page: {sum(statements.values())}")
        for statement, times in statements.most_common():
            print(f"  {times} x {statement}")
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            client.get("/")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"{n} home pages in {seconds:.3f} s: {n / seconds:.1f}/s, "
              f"{cpu / n * 1000:.2f} ms CPU a page (no profiler)")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(n):
                client.get("/")
            profiler.disable()
            stats = pstats.Stats(profiler)
            if "--stats" in argv:
                stats.dump_stats(argv[argv.index("--stats") + 1])
            stats.sort_stats("cumulative").print_stats(70)
            stats.sort_stats("tottime").print_stats(30)
        with app.app_context():
            sqla.engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
