"""The key-encryption key and the data keys it wraps: a thin caller of
healthcard.datakeys and healthcard.reencrypt (docs/keys.md has the procedure).

python manage.py kek rotate            # re-wrap every data key under HEALTHCARD_KEK
python manage.py kek check [--sample 100]
python manage.py kek new-data-key [--purpose pii|key-store]
python manage.py kek reencrypt [--batch 500]
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from healthcard import datakeys, envelope, reencrypt
from healthcard.models import DataKeyPurpose

ACTOR = "cli:kek"
BAR = 30


class Command(BaseCommand):
    help = "Rotate the key-encryption key, check what it protects, re-encrypt personal data."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "rotate",
            help="Re-wrap every data key under HEALTHCARD_KEK (the new KEK); keys under "
            "HEALTHCARD_KEK_PREVIOUS are unwrapped with it. One transaction.",
        )
        check = sub.add_parser("check", help="Decrypt a sample of every kind of ciphertext.")
        check.add_argument("--sample", type=int, default=100, help="Rows per column.")
        new = sub.add_parser("new-data-key", help="Retire the active data key and make a new one.")
        new.add_argument(
            "--purpose",
            choices=[DataKeyPurpose.PII, DataKeyPurpose.KEY_STORE],
            action="append",
            help="Default: both.",
        )
        again = sub.add_parser(
            "reencrypt",
            help="Move rows under retired data keys to the active ones (online, resumable).",
        )
        again.add_argument("--batch", type=int, default=500)

    def handle(self, *args, **options):
        action = options["action"]
        if action == "rotate":
            self.rotate()
        elif action == "check":
            self.check(options["sample"])
        elif action == "new-data-key":
            for purpose in options["purpose"] or [DataKeyPurpose.PII, DataKeyPurpose.KEY_STORE]:
                key = datakeys.replace(purpose, actor=ACTOR)
                self.stdout.write(f"{purpose}: new data key {key.kid}; now run `kek reencrypt`")
        elif action == "reencrypt":
            if options["batch"] < 1:
                raise CommandError("--batch must be at least 1")
            result = reencrypt.reencrypt(
                batch=options["batch"], actor=ACTOR, progress=self.progress
            )
            self.stdout.write(
                f"moved {result['moved']} ciphertexts, {result['left']} left, "
                f"{result['destroyed']} retired data keys destroyed"
            )
            if result["left"]:
                raise CommandError("some rows did not move; run `kek check`, then run again")

    def rotate(self) -> None:
        try:
            counts = datakeys.rewrap(actor=ACTOR)
        except envelope.EnvelopeError as exc:
            raise CommandError(f"nothing changed: {exc}") from None
        new = datakeys.kek_id(settings.HEALTHCARD_KEK)
        self.stdout.write(
            f"re-wrapped {counts['rewrapped']} data keys under KEK {new} "
            f"({counts['current']} were under it already)"
        )

    def check(self, sample: int) -> None:
        report = reencrypt.check(sample=sample, actor=ACTOR)
        for key, under, opens in report.data_keys:
            state = "ok" if opens else "DOES NOT UNWRAP"
            self.stdout.write(
                f"data key {key.kid} {key.purpose:<10} {key.state:<8} under {under} KEK: {state}"
            )
        for label, sampled, failed in report.columns:
            self.stdout.write(f"{label:<28} {sampled:>6} checked, {failed} failed")
        if any(under == "previous" for _k, under, _o in report.data_keys):
            self.stdout.write("some data keys are under HEALTHCARD_KEK_PREVIOUS: run `kek rotate`")
        if not report.ok:
            raise CommandError("some ciphertexts do not decrypt")
        self.stdout.write("everything checked decrypts")

    def progress(self, p: reencrypt.Progress) -> None:
        done = p.scanned / p.total if p.total else 1.0
        filled = int(done * BAR)
        self.stdout.write(
            f"{p.column:<28} [{'#' * filled}{'.' * (BAR - filled)}] "
            f"{p.scanned}/{p.total} ({p.moved} moved)"
        )
