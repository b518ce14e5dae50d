"""Where a printer may point.

An institution administrator types a printer's device file or network address; a job
then writes a slip there. Unchecked, that writes over any file the print worker can
write (the database included), or sends bytes to any service it can reach (loopback,
the cloud metadata address 169.254.169.254, the platform's own Redis). So:

- a device file (escpos-file, escpos-serial) must be an absolute, normalised path that
  matches one of HEALTHCARD_PRINTER_DEVICES, and so must the file it really is
  (symbolic links followed);
- a network printer's host must be, or resolve only to, addresses inside one of
  HEALTHCARD_PRINTER_NETWORKS. Loopback, link-local, multicast, unspecified, reserved
  and broadcast addresses are refused even inside a listed network, unless a listed
  network lies wholly inside such a range: 0.0.0.0/0 does not open 127.0.0.1, only a
  deliberate 127.0.0.1/32 does. IPv4 addresses written in IPv6 (::ffff:127.0.0.1,
  ::127.0.0.1, 2002:7f00:1::) are judged as the IPv4 address they carry.

Printer.clean() checks at save time (admin, any code that validates a printer);
printing.devices checks again just before sending, and connects to the address it
checked, so a name that resolves elsewhere by then cannot redirect the job.
"""

import fnmatch
import ipaddress
import os
import re
import socket
from pathlib import PurePosixPath

from django.conf import settings
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


class TargetRefused(ValueError):
    """The printer may not point there; `field` is the Printer field to blame."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# --- Device files -----------------------------------------------------------------------
def check_device(path: str) -> str:
    """Refuse a device path outside HEALTHCARD_PRINTER_DEVICES; return it unchanged."""
    patterns = settings.HEALTHCARD_PRINTER_DEVICES
    if not path:
        raise TargetRefused("device", _("Enter the printer's device file, e.g. /dev/usb/lp0."))
    if (
        not path.startswith("/")
        or "\x00" in path
        or os.path.normpath(path) != path
        or ".." in PurePosixPath(path).parts
    ):
        raise TargetRefused(
            "device",
            _("The device must be an absolute path without '.', '..' or '//', e.g. /dev/usb/lp0."),
        )
    real = os.path.realpath(path)
    if not (_matches_any(path, patterns) and _matches_any(real, patterns)):
        raise TargetRefused(
            "device",
            _(
                "%(path)s is not a printer device this platform allows. Allowed: "
                "%(patterns)s (setting HEALTHCARD_PRINTER_DEVICES)."
            )
            % {"path": path, "patterns": ", ".join(patterns)},
        )
    return path


def _matches_any(path: str, patterns: list[str]) -> bool:
    parts = PurePosixPath(path).parts
    return any(_match(parts, PurePosixPath(p).parts) for p in patterns)


def _match(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Glob by path segment: `*` and `?` stay inside one folder, `**` spans any number."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return (
        bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _match(parts[1:], pattern[1:])
    )


# --- Network printers -------------------------------------------------------------------
def check_host(host: str, port: int = 9100) -> IPAddress:
    """Refuse a host outside HEALTHCARD_PRINTER_NETWORKS; return the address to connect
    to (every address a name resolves to must be allowed)."""
    host = (host or "").strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise TargetRefused("host", _("Enter the network printer's IP address."))
    addresses = _resolve(host, port)
    networks = [ipaddress.ip_network(n) for n in settings.HEALTHCARD_PRINTER_NETWORKS]
    for address in addresses:
        reason = _refusal(address, networks)
        if reason:
            shown = host if str(address) == host else f"{host} ({address})"
            raise TargetRefused(
                "host",
                _(
                    "The printer address %(address)s is not allowed: %(reason)s. "
                    "Printers must be in the site networks %(networks)s "
                    "(setting HEALTHCARD_PRINTER_NETWORKS)."
                )
                % {
                    "address": shown,
                    "reason": reason,
                    "networks": ", ".join(settings.HEALTHCARD_PRINTER_NETWORKS),
                },
            )
    return _embedded_ipv4(addresses[0])


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.split("%", 1)[0])]
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise TargetRefused("host", _("This is neither an IP address nor a host name."))
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(
            "host",
            _("The host name %(host)s cannot be resolved; enter the printer's IP address.")
            % {"host": host},
        ) from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4), if any."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.sixtofour:
            return address.sixtofour
        if address in ipaddress.ip_network("::/96") and int(address) > 1:
            return ipaddress.IPv4Address(int(address))
    return address


def _special(target: IPAddress | IPNetwork) -> str:
    """Why an address (or a whole network) is never a printer by default, or ''."""
    if target.is_loopback:
        return _("loopback")
    if target.is_link_local:
        return _("link-local")
    if target.is_multicast:
        return _("multicast")
    if target.is_unspecified:
        return _("unspecified address")
    if target.is_reserved:
        return _("reserved address")
    return ""


def _refusal(address: IPAddress, networks: list[IPNetwork]) -> str:
    address = _embedded_ipv4(address)
    special = _special(address)
    containing = [n for n in networks if n.version == address.version and address in n]
    if special:
        # Only a network that is itself special (127.0.0.1/32) opens a special address.
        if any(_special(n) for n in containing):
            return ""
        return special
    if not containing:
        return _("outside the site networks")
    return ""
