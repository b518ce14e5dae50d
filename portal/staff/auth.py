"""Console sign-in, enrolment of the authenticator, sign-out, and the access decorator."""

from functools import wraps

from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from healthcard import staffauth
from portal.staff.forms import EnrolForm, SignInForm


def _next(request, value: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("portal:staff:home")


def staff_required(view=None, *, perm: str | None = None):
    """Every console page: a staff member signed in with a verified second factor;
    `perm` adds a Django permission (403 without it)."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not (staffauth.is_staff_member(user) and user.is_verified()):
                target = reverse("portal:staff:login")
                if request.method == "GET":
                    target += "?" + urlencode({"next": request.get_full_path()})
                return redirect(target)
            if perm and not user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate


def sign_in(request):
    form = SignInForm(request.POST or None, initial={"next": request.GET.get("next", "")})
    error = None
    if request.method == "POST":
        request.session.pop(staffauth.ENROL_SESSION_KEY, None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                checked = staffauth.check_credentials(
                    request, data["username"], data["password"], data["otp_token"]
                )
            except staffauth.SignInFailed as exc:
                error = exc.message
            else:
                if checked.device is None:
                    staffauth.start_enrolment(request, checked.user)
                    target = reverse("portal:staff:enrol")
                    return redirect(target + "?" + urlencode({"next": data["next"]}))
                staffauth.complete_sign_in(request, checked.user, checked.device)
                return redirect(_next(request, data["next"]))
        else:
            error = staffauth.FAILED
    return render(request, "portal/staff/sign_in.html", {"form": form, "error": error})


def enrol(request):
    """First sign-in: add the authenticator app (QR or typed secret), confirm a code."""
    user = staffauth.enrolling_user(request)
    if user is None:
        return redirect("portal:staff:login")
    device = staffauth.enrolment_device(user)
    form = EnrolForm(request.POST or None, initial={"next": request.GET.get("next", "")})
    error = None
    if request.method == "POST" and form.is_valid():
        if staffauth.confirm_enrolment(request, user, form.cleaned_data["otp_token"]):
            return redirect(_next(request, form.cleaned_data["next"]))
        error = _("The code does not match. Check the phone's clock and enter the current code.")
    context = {
        "form": form,
        "error": error,
        # our own SVG of the otpauth URL (made from the user name and a random secret)
        "qr": mark_safe(staffauth.qr_svg(device.config_url)),  # noqa: S308
        "secret": staffauth.secret_base32(device),
        "username": user.get_username(),
    }
    return render(request, "portal/staff/enrol.html", context)


@require_POST
def sign_out(request):
    logout(request)
    return redirect("portal:staff:login")
