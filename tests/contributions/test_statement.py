"""Bank statement import: good lines recorded, bad lines reported by number and
skipped whole, a second import records nothing; through the CLI too."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from emergency import clock
from emergency.errors import InvalidInput
from emergency.service import AidService
from emergency.statement import LineError, import_statement, read_statement
from infra.cli import main
from infra.settings import Settings
from tests.support.fund_builders import ACCOUNT, Funds, allocate, conservation, hours, open_funds, views_of

HEADER = "date,reference,amount,remitter,description,earmark\n"
GOOD = [
    "2024-09-07T15:00:00+07:00,FT001,500000,NGUYEN VAN AN,UNG HO BAO SO 3,\n",
    '2024-09-07 16:00:00,FT002,1000000,"TRAN THI BICH, HA NOI","UNG HO ""YEN BAI""",province:31\n',
    '2024-09-07T17:00:00Z,FT003,200000,LE VAN CUONG,"MOT DONG\nHAI DONG",purpose:housing\n',
]
BAD = {  # line number: (line, error code, column)
    6: ("2024-09-07,FT004,100000,A,B,\n", "malformed", "date"),
    7: ("07/09/2024 10:00,FT005,100000,A,B,\n", "malformed", "date"),
    8: ("2024-09-07T10:00:00+07:00,FT006,100000.5,A,B,\n", "malformed", "amount"),
    9: ("2024-09-07T10:00:00+07:00,FT007,-100000,A,B,\n", "malformed", "amount"),
    10: ("2024-09-07T10:00:00+07:00,FT008,0,A,B,\n", "malformed", "amount"),
    11: ("2024-09-07T10:00:00+07:00,,100000,A,B,\n", "malformed", "reference"),
    12: ("2024-09-07T10:00:00+07:00,FT009,100000,,B,\n", "malformed", "remitter"),
    13: ("2024-09-07T10:00:00+07:00,FT010,100000,A\n", "wrong_field_count", None),
    14: ("2024-09-07T10:00:00+07:00,FT 011,100000,A,B,\n", "malformed", "reference"),
    15: ("2024-09-07T10:00:00+07:00,FT012,100000,A,B,district:7\n", "malformed", "earmark"),
    16: ("2030-01-01T10:00:00+07:00,FT013,100000,A,B,\n", "malformed", "date"),
    17: ("2024-09-07T07:30:00+07:00,FT014,100000,A,B,\n", "outside_campaign_window", "date"),
    18: ("2024-09-07T10:00:00+07:00,FT015,100000,A,B,household:7f2c1a8e-0000-4000-8000-000000000000\n",
         "not_found", "earmark.household_id"),
    19: ("2024-09-07T10:00:00+07:00,FT001,500000,NGUYEN VAN AN,AGAIN,\n", "already", None),
}


@pytest.fixture
def funds(service: AidService) -> Funds:
    with clock.frozen_at(hours(72)):
        funds = open_funds(service)
    return funds


def statement_text() -> str:
    """Header (line 1), the good lines (2-5: the third spans two lines), the bad ones (6-19)."""
    return HEADER + "".join(GOOD) + "".join(BAD[n][0] for n in sorted(BAD))


def run_import(service: AidService, funds: Funds, text: str, batch_size: int = 2):
    fund = service.funding.fund(funds.central)
    with clock.frozen_at(hours(72)):
        return import_statement(service, read_statement(io.StringIO(text, newline="")), fund.id, ACCOUNT,
                                batch_size=batch_size)


def test_good_lines_are_recorded_and_bad_ones_reported_by_line(service: AidService, funds: Funds,
                                                              settings: Settings):
    report = run_import(service, funds, statement_text())
    assert report.recorded == 3
    assert report.already_recorded == [19]
    assert {e.line: (e.code, e.field) for e in report.rejected} == {
        n: (code, column) for n, (_, code, column) in BAD.items() if code != "already"}
    assert service.funding.fund(funds.central).holding("none", "cash") == (500_000, 500_000)
    assert service.funding.fund(funds.central).holding("province:31", "cash") == (1_000_000, 1_000_000)
    views = views_of(service, settings.views_url())
    with views.store.read() as cur:
        rows = cur.execute("SELECT reference, donor_name, description, received_at FROM funds_contribution "
                           "ORDER BY reference").fetchall()
    assert [r[:3] for r in rows] == [("FT001", "NGUYEN VAN AN", "UNG HO BAO SO 3"),
                                     ("FT002", "TRAN THI BICH, HA NOI", 'UNG HO "YEN BAI"'),
                                     ("FT003", "LE VAN CUONG", "MOT DONG\nHAI DONG")]
    # without an offset, a time is Hà Nội time: 16:00 +07:00 is 09:00 UTC
    assert rows[1][3] == 1725699600 * 1_000_000
    assert conservation(service, views).ok


def test_reimporting_a_statement_changes_nothing(service: AidService, funds: Funds):
    first = run_import(service, funds, statement_text())
    position = service.last_notification_id()
    again = run_import(service, funds, statement_text(), batch_size=1000)
    assert again.recorded == 0
    assert again.already_recorded == [2, 3, 4, 19]
    assert [(e.line, e.code) for e in again.rejected] == [(e.line, e.code) for e in first.rejected]
    assert service.last_notification_id() == position


def test_lines_that_are_not_utf8_or_not_csv_are_reported(service: AidService, funds: Funds, tmp_path: Path):
    path = tmp_path / "statement.csv"
    path.write_bytes(("\ufeff" + HEADER).encode() + GOOD[0].encode() + b"2024-09-07T10:00:00+07:00,FT020,1000,"
                     b"NGUY\xc3N,B,\n" + b'2024-09-07T10:00:00+07:00,FT021,1000,"A"x,B,\n' + GOOD[1].encode())
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        items = list(read_statement(handle))
    assert [(i.line, i.code) if isinstance(i, LineError) else i.line for i in items] == [
        2, (3, "not_utf8"), (4, "malformed_csv"), 5]


@pytest.mark.parametrize("header", ["", "date,reference,amount,remitter\n", "date,ref,amount,remitter,description\n",
                                    HEADER.strip() + ",amount\n"])
def test_a_bad_header_refuses_the_whole_file(service: AidService, funds: Funds, header: str):
    position = service.last_notification_id()
    with pytest.raises(InvalidInput) as caught:
        run_import(service, funds, header + "".join(GOOD))
    assert caught.value.field == "header"
    assert service.last_notification_id() == position


def test_the_command_line_imports_checks_and_traces(service: AidService, funds: Funds, settings: Settings,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "statement.csv"
    path.write_text(HEADER + "".join(GOOD), encoding="utf-8")
    base = ["--database-url", settings.database_url]
    env_views = {"EMERGENCY_VIEWS_DATABASE_URL": settings.views_url()}
    with pytest.MonkeyPatch.context() as patch, clock.frozen_at(hours(72)):
        for name, value in env_views.items():
            patch.setenv(name, value)
        assert main([*base, "import-statement", str(path), "--fund", str(funds.central)]) == 0
        assert "3 recorded, 0 already recorded, 0 rejected" in capsys.readouterr().out
        assert main([*base, "import-statement", str(path), "--fund", str(funds.central)]) == 0
        assert "already recorded: lines 2-4" in capsys.readouterr().out
        path.write_text(HEADER + BAD[8][0], encoding="utf-8")
        assert main([*base, "import-statement", str(path), "--fund", str(funds.central)]) == 1
        assert "line 2: malformed (amount)" in capsys.readouterr().out
        assert main([*base, "funds", "check"]) == 0
        assert "conservation holds" in capsys.readouterr().out
        assert main([*base, "funds", "trace", "FT002"]) == 0
        assert "1000000.00 VND reached" in capsys.readouterr().out
        assert main([*base, "funds", "disclose", str(funds.campaign), "--search", "tran thi bich"]) == 0
        assert "TRAN THI BICH" in capsys.readouterr().out
        assert main([*base, "funds", "report", "--by", "donor-type"]) == 0
        assert "unspecified | 3 | 1,700,000 | 0" in capsys.readouterr().out
        allocate(service, funds.central, funds.province, 300_000)
        assert main([*base, "funds", "report", "--by", "province"]) == 0
        assert "\n31 | Thành phố Hải Phòng | 0 | 300,000 | " in capsys.readouterr().out
        views = views_of(service, settings.views_url())
        with views.store.transaction() as cur:
            cur.execute("UPDATE funds_balance SET value_vnd = value_vnd + 1 WHERE bucket = 'none'")
        assert main([*base, "funds", "check"]) == 1
        assert "conservation VIOLATED" in capsys.readouterr().out
