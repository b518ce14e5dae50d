"""Where a printer may point (issue 8, hole 3): device files on an allow-list, network
printers only inside the site networks, never loopback, link-local or multicast.
Checked when the admin saves a printer and again just before a job is sent."""

import socket
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from printing import devices, jobs, runner, targets
from printing.models import JobStatus, Printer, PrinterKind
from tests.test_settings import GOOD_KEK, GOOD_SECRET, ROOT

# The production defaults (healthcard/settings.py, docs/configuration.md). The test
# settings widen both lists for the virtual printer and temporary device files.
PRODUCTION_DEVICES = ["/dev/usb/lp*", "/dev/ttyUSB*", "/dev/ttyS*", "/dev/ttyACM*"]
PRODUCTION_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


@pytest.fixture
def production_rules(settings):
    settings.HEALTHCARD_PRINTER_DEVICES = PRODUCTION_DEVICES
    settings.HEALTHCARD_PRINTER_NETWORKS = PRODUCTION_NETWORKS


@pytest.fixture
def dns(monkeypatch):
    """Host names resolve to what the test says (and nothing else resolves)."""
    names: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in names[host]
        ]

    monkeypatch.setattr(targets.socket, "getaddrinfo", getaddrinfo)
    return names


# --- Network printers -------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    [
        "10.20.30.40",
        "172.16.0.9",
        "172.31.255.254",
        "192.168.1.50",
        " 192.168.1.50 ",
        "::ffff:192.168.1.50",
    ],
)
def test_private_site_addresses_are_allowed(production_rules, host):
    address = targets.check_host(host)
    assert str(address) == host.strip().removeprefix("::ffff:")


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("169.254.1.1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address refused, not bound
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("[::1]", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("8.8.8.8", "outside the site networks"),
        ("100.64.0.1", "outside the site networks"),
        ("172.32.0.1", "outside the site networks"),
        ("fd00::1", "outside the site networks"),
    ],
)
def test_special_and_outside_addresses_are_refused(production_rules, host, reason):
    with pytest.raises(targets.TargetRefused) as refused:
        targets.check_host(host)
    assert refused.value.field == "host"
    assert reason in refused.value.message
    assert "HEALTHCARD_PRINTER_NETWORKS" in refused.value.message


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "localhost"])
def test_other_spellings_of_loopback_are_refused(production_rules, host):
    # The C resolver reads these as 127.0.0.1, and so would the connection.
    with pytest.raises(targets.TargetRefused, match="loopback"):
        targets.check_host(host)


def test_host_name_resolving_to_loopback_is_refused(production_rules, dns):
    dns["printer.hospital.example"] = ["127.0.0.1"]
    with pytest.raises(targets.TargetRefused, match=r"printer\.hospital\.example \(127\.0\.0\.1\)"):
        targets.check_host("printer.hospital.example")


def test_host_name_with_any_refused_address_is_refused(production_rules, dns):
    dns["printer.hospital.example"] = ["192.168.1.50", "169.254.169.254"]
    with pytest.raises(targets.TargetRefused, match="link-local"):
        targets.check_host("printer.hospital.example")


def test_host_name_resolving_to_the_site_network_gives_the_address(production_rules, dns):
    dns["printer.hospital.example"] = ["192.168.1.50"]
    assert str(targets.check_host("printer.hospital.example")) == "192.168.1.50"


def test_unresolvable_host_name_is_refused(production_rules, dns):
    with pytest.raises(targets.TargetRefused, match="cannot be resolved"):
        targets.check_host("printer.hospital.example")


@pytest.mark.parametrize("host", ["", "  ", "http://192.168.1.5/", "a b", "192.168.1.5:9100"])
def test_empty_or_garbled_host_is_refused(production_rules, host):
    with pytest.raises(targets.TargetRefused):
        targets.check_host(host)


def test_listing_everything_does_not_open_loopback(settings):
    settings.HEALTHCARD_PRINTER_NETWORKS = ["0.0.0.0/0", "::/0"]
    assert str(targets.check_host("8.8.8.8")) == "8.8.8.8"
    for host in ("127.0.0.1", "169.254.169.254", "::1", "224.0.0.1"):
        with pytest.raises(targets.TargetRefused):
            targets.check_host(host)


def test_a_deliberate_loopback_network_opens_only_itself(settings):
    settings.HEALTHCARD_PRINTER_NETWORKS = ["127.0.0.1/32"]
    assert str(targets.check_host("127.0.0.1")) == "127.0.0.1"
    with pytest.raises(targets.TargetRefused):
        targets.check_host("127.0.0.2")
    with pytest.raises(targets.TargetRefused):
        targets.check_host("192.168.1.50")


# --- Device files -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/dev/usb/lp0", "/dev/usb/lp12", "/dev/ttyUSB0", "/dev/ttyS3", "/dev/ttyACM1"]
)
def test_printer_devices_are_allowed(production_rules, path):
    assert targets.check_device(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "/var/lib/healthcard/db.sqlite3",
        str(ROOT / "var" / "db.sqlite3"),
        "/etc/passwd",
        "/dev/sda",
        "/dev/usb/lp0/../../sda",
        "/dev/usb/../sda",
        "/dev/./usb/lp0",
        "/dev//usb/lp0",
        "//dev/usb/lp0",
        "/dev/usb/lp0/",
        "/dev/ttyS0/x",
        "/dev/usb/lp0\x00",
        "dev/usb/lp0",
        "lp0",
        "",
    ],
)
def test_other_paths_are_refused(production_rules, path):
    with pytest.raises(targets.TargetRefused) as refused:
        targets.check_device(path)
    assert refused.value.field == "device"


def test_link_from_an_allowed_name_to_another_file_is_refused(settings, tmp_path):
    settings.HEALTHCARD_PRINTER_DEVICES = [f"{tmp_path}/lp*"]
    database = tmp_path / "db.sqlite3"
    database.write_bytes(b"SQLite format 3\x00")
    (tmp_path / "lp0").symlink_to(database)
    with pytest.raises(targets.TargetRefused, match="HEALTHCARD_PRINTER_DEVICES"):
        targets.check_device(str(tmp_path / "lp0"))


def test_double_star_spans_folders_and_star_does_not(settings):
    settings.HEALTHCARD_PRINTER_DEVICES = ["/srv/printers/**", "/dev/lp*"]
    assert targets.check_device("/srv/printers/a/b/lp0")
    with pytest.raises(targets.TargetRefused):
        targets.check_device("/dev/lp0/x")


# --- Saving a printer -------------------------------------------------------------------
def test_model_validation_names_the_field(production_rules, hospital):
    printer = Printer(
        institution=hospital, name="x", kind=PrinterKind.ESCPOS_FILE, device="/etc/passwd"
    )
    with pytest.raises(ValidationError) as refused:
        printer.full_clean()
    assert "device" in refused.value.message_dict
    printer = Printer(
        institution=hospital, name="y", kind=PrinterKind.ESCPOS_NETWORK, host="127.0.0.1"
    )
    with pytest.raises(ValidationError) as refused:
        printer.full_clean()
    assert "host" in refused.value.message_dict
    Printer(institution=hospital, name="z", kind=PrinterKind.PDF, device="/etc/passwd").full_clean()


def add_printer(client, hospital, **fields):
    data = {
        "institution": hospital.pk,
        "name": "Counter",
        "is_active": "on",
        "port": 9100,
        "baudrate": 9600,
        "paper_width": 80,
        "text_mode": "raster",
        "pdf_layout": "card",
        **fields,
    }
    return client.post(reverse("admin:printing_printer_add"), data)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "escpos-file", "device": str(ROOT / "var" / "db.sqlite3")}, "is not a printer"),
        ({"kind": "escpos-serial", "device": "/etc/shadow"}, "is not a printer"),
        ({"kind": "escpos-network", "host": "127.0.0.1"}, "loopback"),
        ({"kind": "escpos-network", "host": "169.254.169.254"}, "link-local"),
        ({"kind": "escpos-network", "host": "::ffff:127.0.0.1"}, "loopback"),
        ({"kind": "escpos-network", "host": "localhost"}, "loopback"),
        ({"kind": "escpos-network", "host": "8.8.8.8"}, "outside the site networks"),
    ],
)
def test_admin_refuses_to_save_a_printer_pointing_elsewhere(
    client, otp_login, institution_admin, hospital, production_rules, fields, message
):
    otp_login(client, institution_admin)
    response = add_printer(client, hospital, **fields)
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    field = "host" if fields["kind"] == "escpos-network" else "device"
    assert message in " ".join(errors[field])
    assert not Printer.objects.exists()


def test_admin_saves_a_printer_in_the_site_network(
    client, otp_login, institution_admin, hospital, production_rules
):
    otp_login(client, institution_admin)
    response = add_printer(client, hospital, kind="escpos-network", host="192.168.10.20")
    assert response.status_code == 302
    assert Printer.objects.get().host == "192.168.10.20"


# --- Sending ----------------------------------------------------------------------------
def test_send_refuses_a_network_printer_saved_before_the_rules(
    network_printer, virtual_printer, production_rules
):
    # Saved without validation (or under wider rules): 127.0.0.1, the virtual printer.
    with pytest.raises(devices.PrinterNotAllowed, match="loopback"):
        devices.send(network_printer, b"\x1b@slip")
    assert virtual_printer.connections == 0


def test_send_refuses_a_device_file_outside_the_allow_list(hospital, tmp_path, production_rules):
    target = tmp_path / "db.sqlite3"
    target.write_bytes(b"precious")
    printer = Printer.objects.create(
        institution=hospital, name="lp", kind=PrinterKind.ESCPOS_FILE, device=str(target)
    )
    with pytest.raises(devices.PrinterNotAllowed, match="HEALTHCARD_PRINTER_DEVICES"):
        devices.send(printer, b"\x1b@slip")
    assert target.read_bytes() == b"precious"


def test_send_connects_to_the_address_it_checked(hospital, dns, monkeypatch, settings):
    settings.HEALTHCARD_PRINTER_NETWORKS = PRODUCTION_NETWORKS
    dns["printer.hospital.example"] = ["192.168.1.50"]
    opened = []
    monkeypatch.setattr(
        devices.escpos_printer,
        "Network",
        lambda host, port, timeout: opened.append(host) or pytest.fail("stop here"),
    )
    printer = Printer(
        institution=hospital, kind=PrinterKind.ESCPOS_NETWORK, host="printer.hospital.example"
    )
    with pytest.raises(pytest.fail.Exception):
        devices.send(printer, b"x")
    assert opened == ["192.168.1.50"]


def test_job_for_a_refused_printer_fails_at_once_without_retry(
    card, network_printer, virtual_printer, production_rules
):
    job, _ = jobs.submit_print_job(card, network_printer, requested_by=None, idempotency_key="k")
    result = runner.process(job.pk)
    job.refresh_from_db()
    assert result.outcome == runner.Outcome.FAILED
    assert job.status == JobStatus.FAILED
    assert "loopback" in job.last_error
    assert virtual_printer.connections == 0


def test_test_page_to_a_refused_printer_records_the_reason(network_printer, production_rules):
    result = runner.send_test_page(network_printer)
    assert result.startswith("error: ")
    assert "loopback" in result
    network_printer.refresh_from_db()
    assert "loopback" in network_printer.last_test_result


# --- Settings ---------------------------------------------------------------------------
def _production_settings(tmp_path, **env):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.HEALTHCARD_PRINTER_DEVICES); print(s.HEALTHCARD_PRINTER_NETWORKS)",
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "healthcard.settings",
            "HEALTHCARD_VAR_DIR": str(tmp_path / "var"),
            "SECRET_KEY": GOOD_SECRET,
            "HEALTHCARD_KEK": GOOD_KEK,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_defaults_are_printer_devices_and_private_networks(tmp_path):
    result = _production_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(PRODUCTION_DEVICES), str(PRODUCTION_NETWORKS)]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HEALTHCARD_PRINTER_NETWORKS": "192.168.1.0/33"}, "is not an IP network"),
        ({"HEALTHCARD_PRINTER_NETWORKS": "printers.lan"}, "is not an IP network"),
        ({"HEALTHCARD_PRINTER_DEVICES": "dev/usb/lp*"}, "must be an absolute path"),
        ({"HEALTHCARD_PRINTER_DEVICES": "/dev/usb/../*"}, "must be an absolute path"),
    ],
)
def test_bad_allow_lists_stop_the_start(tmp_path, env, message):
    result = _production_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
