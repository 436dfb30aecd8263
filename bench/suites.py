"""The benchmarks, one function per figure of ``../shared/BENCH.md``."""

from __future__ import annotations

from bench.runner import BenchDB, bench, log, make_app, median_seconds


@bench("dashboard_rps")
def dashboard_rps(db: BenchDB) -> dict:
    """Signed-in home dashboard through the in-process test client: requests per second."""
    from erp.core import services
    from erp.extensions import db as sqla

    app = make_app(db)
    with app.app_context():
        services.create_user(username="manager", full_name="Bench Manager",
                             password="bench-password-1", roles=["manager", "admin"], actor=None)
        sqla.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"username": "manager",
                                           "password": "bench-password-1"})
    assert response.status_code == 302, "bench login failed"
    n = db.scale(500)

    def work():
        for _ in range(n):
            assert client.get("/").status_code == 200

    work()  # warm up templates and the connection pool
    seconds = median_seconds(work)
    log(f"   {n} dashboard requests in {seconds:.3f} s")
    with app.app_context():
        sqla.engine.dispose()
    return {"n": n, "seconds": round(seconds, 4), "per_second": round(n / seconds, 1)}
