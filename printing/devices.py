"""Sending rendered bytes to ESC/POS printers through python-escpos.

Every send first checks where the printer points (printing.targets), because the
allow-lists may have changed since it was saved: PrinterNotAllowed, nothing is sent, and
trying again will not help. Two other failures are told apart, because they call for
different actions:
- PrinterUnavailable: nothing was sent (connection refused, timed out, the printer did
  not answer its status query before the job). Safe to try again later.
- PrinterInterrupted: the connection broke, or the printer stopped answering, after
  bytes of the job were sent. Part or all of the slip may have printed; only a person
  at the printer can tell, so the job is flagged, not retried.
"""

import contextlib
import socket

from django.conf import settings
from escpos import printer as escpos_printer
from escpos.exceptions import Error as EscposError

from printing.models import Printer, PrinterKind
from printing.targets import TargetRefused

# DLE EOT 1: real-time "transmit printer status"; the reply is one byte 0xx1xx10.
STATUS_QUERY = b"\x10\x04\x01"


class PrinterUnavailable(Exception):
    pass


class PrinterInterrupted(Exception):
    pass


class PrinterNotAllowed(Exception):
    pass


def _device(printer: Printer, timeout: float):
    try:
        address = printer.check_target()
    except TargetRefused as exc:
        raise PrinterNotAllowed(exc.message) from None
    if printer.kind == PrinterKind.ESCPOS_NETWORK:
        # The address just checked, not the name again: it cannot resolve elsewhere now.
        return escpos_printer.Network(host=str(address), port=printer.port, timeout=timeout)
    if printer.kind == PrinterKind.ESCPOS_USB:
        return escpos_printer.Usb(
            idVendor=printer.usb_vendor_id,
            idProduct=printer.usb_product_id,
            timeout=int(timeout * 1000),
        )
    if printer.kind == PrinterKind.ESCPOS_SERIAL:
        return escpos_printer.Serial(
            devfile=printer.device, baudrate=printer.baudrate, timeout=timeout
        )
    if printer.kind == PrinterKind.ESCPOS_FILE:
        return escpos_printer.File(devfile=printer.device)
    raise ValueError(f"{printer.kind} is not an ESC/POS printer")


def _read_status(device) -> int:
    """Ask for the printer status and wait (socket timeout) for its one-byte answer."""
    device._raw(STATUS_QUERY)
    reply = device.device.recv(1)
    if not reply:
        raise ConnectionError("printer closed the connection instead of answering")
    return reply[0]


def _where(printer: Printer) -> str:
    if printer.kind == PrinterKind.ESCPOS_NETWORK:
        return f"{printer.host}:{printer.port}"
    if printer.kind == PrinterKind.ESCPOS_USB:
        return f"USB {printer.usb_vendor_id or 0:04x}:{printer.usb_product_id or 0:04x}"
    return printer.device


def send(printer: Printer, data: bytes, *, timeout: float | None = None) -> None:
    """Deliver `data` to the printer. Raises PrinterNotAllowed, PrinterUnavailable or
    PrinterInterrupted."""
    timeout = settings.HEALTHCARD_PRINT_TIMEOUT if timeout is None else timeout
    check = printer.status_check and printer.kind == PrinterKind.ESCPOS_NETWORK
    device = _device(printer, timeout)
    try:
        device.open()
        if printer.kind == PrinterKind.ESCPOS_NETWORK:
            device.device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if check:
            status = _read_status(device)
            if status & 0x08:  # bit 3: offline (cover open, paper out, error)
                raise PrinterUnavailable(f"printer at {_where(printer)} reports offline")
    except PrinterUnavailable:
        _close(device)
        raise
    except (TimeoutError, OSError, EscposError) as exc:
        _close(device)
        raise PrinterUnavailable(f"cannot reach printer at {_where(printer)}: {exc}") from exc
    try:
        if check:
            # The printer handles the query after everything before it: an answer means
            # it received the whole job. One write, so the query does not wait for the
            # job's acknowledgement (Nagle).
            device._raw(data + STATUS_QUERY)
            if not device.device.recv(1):
                raise ConnectionError("printer closed the connection before confirming")
        else:
            device._raw(data)
            if hasattr(device.device, "flush"):
                device.device.flush()
    except (TimeoutError, OSError, EscposError) as exc:
        raise PrinterInterrupted(
            f"printer at {_where(printer)} stopped during the job: {exc}"
        ) from exc
    finally:
        _close(device)


def _close(device) -> None:
    with contextlib.suppress(OSError, EscposError):
        device.close()
