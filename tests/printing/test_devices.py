"""Sending to printers through python-escpos, against the virtual network printer."""

import pytest

from printing import devices
from printing.models import Printer, PrinterKind

JOB = b"\x1b@" + b"slip" * 5000 + b"\x1dVA\x03"


def test_network_printer_receives_the_job(network_printer, virtual_printer):
    devices.send(network_printer, JOB)
    assert virtual_printer.wait_for_jobs(1, timeout=5)
    assert virtual_printer.jobs == [JOB]


def test_refused_connection_is_unavailable_and_nothing_is_printed(network_printer, virtual_printer):
    virtual_printer.then("refuse")
    with pytest.raises(devices.PrinterUnavailable):
        devices.send(network_printer, JOB)
    assert virtual_printer.jobs == []


def test_closed_port_is_unavailable(network_printer, virtual_printer):
    virtual_printer.close()
    with pytest.raises(devices.PrinterUnavailable, match="cannot reach"):
        devices.send(network_printer, JOB)


def test_printer_that_hangs_times_out_as_unavailable(network_printer, virtual_printer):
    virtual_printer.then("hang")
    with pytest.raises(devices.PrinterUnavailable):
        devices.send(network_printer, JOB, timeout=0.5)
    assert virtual_printer.jobs == []


def test_offline_printer_is_unavailable(network_printer, virtual_printer):
    virtual_printer.then("offline")
    with pytest.raises(devices.PrinterUnavailable, match="offline"):
        devices.send(network_printer, JOB)


def test_connection_dropped_mid_job_is_an_interruption(network_printer, virtual_printer):
    virtual_printer.then("drop")
    with pytest.raises(devices.PrinterInterrupted):
        devices.send(network_printer, JOB)
    assert virtual_printer.jobs == []
    assert len(virtual_printer.partial) == 1


def test_without_status_check_a_printer_is_just_written_to(network_printer, virtual_printer):
    network_printer.status_check = False
    devices.send(network_printer, JOB)
    assert virtual_printer.wait_for_jobs(1, timeout=5)
    assert virtual_printer.jobs == [JOB]


def test_device_file_printer_writes_the_bytes(hospital, tmp_path):
    target = tmp_path / "lp0"
    target.touch()
    printer = Printer.objects.create(
        institution=hospital, name="lp0", kind=PrinterKind.ESCPOS_FILE, device=str(target)
    )
    devices.send(printer, JOB)
    assert target.read_bytes() == JOB


def test_missing_device_file_is_unavailable(hospital, tmp_path):
    printer = Printer.objects.create(
        institution=hospital,
        name="lp9",
        kind=PrinterKind.ESCPOS_FILE,
        device=str(tmp_path / "missing" / "lp9"),
    )
    with pytest.raises(devices.PrinterUnavailable):
        devices.send(printer, JOB)


def test_serial_printer_without_device_is_unavailable(hospital):
    printer = Printer.objects.create(
        institution=hospital,
        name="serial",
        kind=PrinterKind.ESCPOS_SERIAL,
        device="/dev/ttyUSB99",  # allowed, but no such device here
    )
    with pytest.raises(devices.PrinterUnavailable):
        devices.send(printer, JOB)
