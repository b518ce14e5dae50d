"""{% recent_services card %}: the services of the institutions where the card was last
used, on the card page."""

from django import template

from healthcard import signin
from healthcard.oidc.validator import issuer

register = template.Library()


@register.inclusion_tag("portal/signin/_recent_services.html", takes_context=True)
def recent_services(context, card):
    iss = issuer(context["request"])
    return {
        "groups": [
            {
                "institution": inst,
                "services": [{"service": s, "link": signin.service_link(s, iss)} for s in items],
            }
            for inst, items in signin.recent_institution_services(card)
        ]
    }
