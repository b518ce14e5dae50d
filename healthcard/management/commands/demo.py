"""Demo data for a laptop: institutions, staff with TOTP, terminals, printers, residents.

Idempotent: a second run finds everything it made before and creates no duplicates.
Terminal tokens are stored hashed and cannot be shown again, so each run issues the
demo terminals fresh tokens (the old ones stop working) and prints them.
"""

import base64
import datetime
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from healthcard import cards, people, realname
from healthcard.models import Channel, Guardianship, Institution, Level, Relation, Role
from healthcard.roles import assign_role

DEMO_PASSWORD = "Hunan-demo-2026"  # noqa: S105 - printed demo credential, never production

INSTITUTIONS = [
    # code, name, level, city, county, parent code
    ("430000000000", "湖南省卫生健康委员会", Level.AUTHORITY, "430000", "", None),
    ("430100000001", "中南大学湘雅医院", Level.TERTIARY, "430100", "430105", "430000000000"),
    ("430300000002", "湘潭市第一人民医院", Level.SECONDARY, "430300", "430302", "430000000000"),
    ("430382000101", "韶山市清溪镇银田村卫生室", Level.VILLAGE, "430300", "430382", "430000000000"),
]
HOSPITALS = ["430100000001", "430300000002"]
# The sample relying party (examples/hospital_app), started by ./dev run.
SAMPLE_CLIENT_ID = "demo-hospital-app"
SAMPLE_APP_URL = "http://127.0.0.1:8001"

RESIDENTS = [
    # name, region, birth date, sequence, phone
    ("张小三", "430102", datetime.date(1985, 3, 12), 131, "13800138000"),
    ("李秀英", "430302", datetime.date(1952, 11, 2), 242, "13900139000"),
    ("阿依古丽·买买提", "650102", datetime.date(1994, 7, 30), 368, ""),
    ("吉𠮷", "430382", datetime.date(2019, 1, 8), 17, ""),
]

# People in the population register without a card: apply online as them.
APPLICANTS = [
    ("王建国", "430103", datetime.date(1960, 4, 6), 515),
    ("王小明", "430103", datetime.date(2016, 9, 1), 731),
]


def citizen_number(region: str, birth: datetime.date, seq: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


class Command(BaseCommand):
    help = "Create (idempotently) demo institutions, staff, terminals, printers and residents."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        with transaction.atomic():
            result = self.build()
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            self.print_summary(result)

    def build(self) -> dict:
        institutions = {}
        for code, name, level, city, county, parent in INSTITUTIONS:
            inst, _created = Institution.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "level": level,
                    "city_code": city,
                    "county_code": county,
                    "parent": institutions.get(parent),
                },
            )
            institutions[code] = inst

        users = [self.user("admin", None, None, superuser=True)]
        users.append(self.user("province", institutions["430000000000"], Role.PROVINCE_ADMIN))
        for n, code in enumerate(HOSPITALS, start=1):
            users.append(self.user(f"clerk{n}", institutions[code], Role.CLERK))
            users.append(self.user(f"supervisor{n}", institutions[code], Role.SUPERVISOR))

        terminals = [self.terminal(institutions[code]) for code in HOSPITALS]
        printers = [p for code in HOSPITALS for p in self.printers(institutions[code])]
        residents = self.residents(institutions)
        sample_app = self.sample_app(institutions["430100000001"], users)
        return {
            "sample_app": sample_app,
            "site": "http://127.0.0.1:8000/",
            "institutions": [
                {"code": i.code, "name": i.name, "level": i.level, "city_code": i.city_code}
                for i in institutions.values()
            ],
            "users": users,
            "terminals": terminals,
            "printers": printers,
            "residents": residents,
        }

    def user(self, username, institution, role, superuser=False) -> dict:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = True
            user.is_superuser = superuser
            user.save()
        if role:
            assign_role(user, institution, role)
        device = TOTPDevice.objects.filter(user=user, name="demo").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="demo", confirmed=True)
        secret = base64.b32encode(device.bin_key).decode()
        return {
            "username": username,
            "password": DEMO_PASSWORD,
            "role": role or "superuser",
            "institution": institution.code if institution else None,
            "totp_secret": secret,
            "totp_uri": device.config_url,
        }

    def sample_app(self, institution, users) -> dict | None:
        """The sample hospital app (examples/hospital_app) as a public sign-in client,
        with two services in the directory. Plain-http URIs are allowed only with DEBUG,
        so it is registered only on a development machine (./dev run)."""
        from django.conf import settings

        from healthcard import signin
        from healthcard.oidc.models import SigninClient

        if not settings.DEBUG:
            return None
        url = SAMPLE_APP_URL
        client = SigninClient.objects.filter(application__client_id=SAMPLE_CLIENT_ID).first()
        if client is None:
            province = get_user_model().objects.get(username="province")
            client = signin.register_client(
                institution,
                "湘雅示范掌上医院",
                redirect_uris=f"{url}/callback",
                post_logout_redirect_uris=f"{url}/",
                scopes="openid ehc profile phone",
                confidential=False,
                client_id=SAMPLE_CLIENT_ID,
                by=province,
            ).client
            for kind, name, path, with_signin in [
                ("booking", "预约挂号", "/login", True),
                ("reports", "检查检验报告", "/login", True),
            ]:
                signin.add_service(
                    client,
                    kind=kind,
                    name=name,
                    url=url + path,
                    description="示范医院（examples/hospital_app）",
                    with_signin=with_signin,
                    by=province,
                )
        return {"client_id": SAMPLE_CLIENT_ID, "url": url}

    def terminal(self, institution) -> dict:
        from healthcard import terminals
        from healthcard.models import Terminal

        name = f"demo HIS {institution.code}"
        scopes = ["verify", "reveal_identity", "register", "link", "report"]
        existing = Terminal.objects.filter(institution=institution, name=name).first()
        if existing is None:
            terminal, token = terminals.create_terminal(institution, name, kind="01", scopes=scopes)
        else:
            terminal, token = existing, terminals.rotate_token(existing)
        return {
            "institution": institution.code,
            "name": name,
            "id": terminal.pk,
            "scopes": scopes,
            "token": token,
        }

    def printers(self, institution) -> list[dict]:
        from printing.models import Printer

        specs = [
            {"name": f"{institution.name} PDF", "kind": "pdf"},
            {
                "name": f"{institution.name} counter thermal printer",
                "kind": "escpos-network",
                "host": "127.0.0.1",
                "port": 9100,
                "paper_width": 80,
            },
        ]
        out = []
        for spec in specs:
            name = spec.pop("name")
            printer, _created = Printer.objects.update_or_create(
                institution=institution, name=name, defaults=spec
            )
            out.append(
                {
                    "id": printer.pk,
                    "institution": institution.code,
                    "name": name,
                    "kind": printer.kind,
                    "queue": f"print.{institution.code}",
                }
            )
        return out

    def residents(self, institutions) -> list[dict]:
        out, holders = [], []
        hospital = institutions[HOSPITALS[0]]
        for name, region, birth, seq, phone in RESIDENTS:
            number = citizen_number(region, birth, seq)
            data = cards.PersonData(name=name, id_type="01", id_number=number, phone=phone)
            card, _created = cards.register_and_issue(
                data, channel=Channel.COUNTER, institution=hospital
            )
            holders.append(card.person)
            # The population register for real-name checks knows every demo resident.
            realname.add_to_register(name, "01", number)
            out.append(
                {
                    "name": card.person.masked_name,
                    "id_number": number,
                    "ehc_id": card.ehc_id,
                    "status": card.status,
                }
            )
        # ... and a few people with no card yet, who can apply online (docs/portal.md).
        for name, region, birth, seq in APPLICANTS:
            number = citizen_number(region, birth, seq)
            realname.add_to_register(name, "01", number)
        # The first resident manages the child's card.
        parent, child = holders[0], holders[-1]
        if not Guardianship.objects.filter(guardian=parent, dependant=child).exists():
            people.add_dependant(parent, child, Relation.CHILD)
        return out

    def print_summary(self, result: dict) -> None:
        w = self.stdout.write
        w(self.style.MIGRATE_HEADING("Demo data ready."))
        w("Institutions:")
        for inst in result["institutions"]:
            w(f"  {inst['code']}  {inst['name']}")
        w(f"Staff logins (password {DEMO_PASSWORD}; second factor: TOTP):")
        for user in result["users"]:
            w(
                f"  {user['username']:<12} {user['role']:<18} {user['institution'] or '-':<14}"
                f" TOTP secret {user['totp_secret']}"
            )
        w("API terminals (Authorization: Bearer <token>; new tokens on every run):")
        for t in result["terminals"]:
            w(f"  {t['institution']}  {t['token']}")
        w("Printers:")
        for p in result["printers"]:
            w(f"  #{p['id']:<3} {p['kind']:<15} {p['name']}  (queue {p['queue']})")
        w("Residents (ID numbers for counter look-ups):")
        for r in result["residents"]:
            w(f"  {r['name']:<10} {r['id_number']}  EHC {r['ehc_id'][:16]}…")
        w("In the population register without a card (apply online as them):")
        for name, region, birth, seq in APPLICANTS:
            w(f"  {name:<10} {citizen_number(region, birth, seq)}")
        if result.get("sample_app"):
            app = result["sample_app"]
            w(f"Sample hospital app: {app['url']}/ (sign-in client {app['client_id']})")
        w("Resident portal: sign in at /signin/ with a mobile number; the SMS codes of the")
        w("console backend are on the development outbox page /dev/outbox/.")
