"""SMS backends (healthcard.sms) and the population register import command."""

import pytest
from django.core.management import CommandError, call_command

from healthcard import realname, sms
from healthcard.models import OutboxMessage, PopulationRecord, SmsSend
from tests.conftest import make_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway(settings, fake_service):
    settings.HEALTHCARD_SMS_BACKEND = "http"
    settings.HEALTHCARD_SMS_URL = fake_service.url + "sms"
    settings.HEALTHCARD_SMS_TOKEN = "gw-token"
    settings.HEALTHCARD_SMS_RETRIES = 2
    fake_service.default = (200, b'{"code": 0}')
    return fake_service


def test_http_backend_posts_the_documented_request(gateway):
    sms.send_sms("13800138000", "hello", purpose="signin", ip="10.0.0.1")
    body, auth = gateway.seen[0]
    assert body == {"phone": "13800138000", "message": "hello", "sign": "湖南电子健康卡"}
    assert auth == "Bearer gw-token"
    assert SmsSend.objects.count() == 1


def test_http_backend_retries_server_errors(gateway):
    gateway.answers = [(503, b"{}"), (502, b"{}")]
    sms.send_sms("13800138000", "hello", purpose="signin")
    assert len(gateway.seen) == 3


def test_http_backend_gives_up_after_the_retries_and_counts_nothing(gateway):
    gateway.answers = [(503, b"{}")] * 3
    with pytest.raises(sms.SmsGatewayError) as refused:
        sms.send_sms("13800138000", "hello", purpose="signin")
    assert "does not count against you" in str(refused.value.message)
    assert len(gateway.seen) == 3
    assert not SmsSend.objects.exists()


@pytest.mark.parametrize("answer", [(400, b"{}"), (200, b'{"code": 17}')])
def test_http_backend_refusals_are_not_retried(gateway, answer):
    gateway.answers = [answer]
    with pytest.raises(sms.SmsGatewayError):
        sms.send_sms("13800138000", "hello", purpose="signin")
    assert len(gateway.seen) == 1


def test_console_backend_logs_the_masked_number_and_keeps_the_message(settings, caplog):
    settings.HEALTHCARD_SMS_BACKEND = "console"
    with caplog.at_level("INFO", logger="healthcard.sms"):
        sms.send_sms("13800138000", "code 123456", purpose="signin")
    assert "138****8000" in caplog.text and "13800138000" not in caplog.text
    assert OutboxMessage.objects.get().body == "code 123456"


def test_import_population_from_csv(tmp_path, capsys):
    good = make_id_number()
    path = tmp_path / "register.csv"
    path.write_text(
        f"name,id_type,id_number\n王建国,01,{good}\n李四,01,430102199005171230\n"
        "王小花,99,O430123456\n",
        encoding="utf-8",
    )
    call_command("import_population", str(path))
    out, err = capsys.readouterr()
    assert "2 added, 0 updated, 1 refused" in out
    assert "line 3" in err and "430102199005171230" not in err
    assert PopulationRecord.objects.count() == 2
    assert realname.verify_identity("王建国", "01", good) is realname.Outcome.VERIFIED
    assert realname.verify_identity("王建军", "01", good) is realname.Outcome.MISMATCH
    call_command("import_population", str(path))
    assert "0 added, 2 updated" in capsys.readouterr().out


def test_import_population_needs_the_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("import_population", str(path))
    with pytest.raises(CommandError):
        call_command("import_population", str(tmp_path / "missing.csv"))


def test_the_register_holds_no_personal_data_in_clear(registered):
    number = registered("王建国")
    record = PopulationRecord.objects.get()
    assert number not in record.identity_index and "王建国" not in record.name_index


def test_demo_seeds_the_population_register(db):
    call_command("demo", "--json")
    assert PopulationRecord.objects.count() >= 6


def test_recheck_command_decides_due_applications(db, capsys):
    call_command("recheck_applications")
    assert "0 due" in capsys.readouterr().out
