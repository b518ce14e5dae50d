"""{% load statistics_tags %}: whether to offer the statistics page to a user."""

from django import template

from healthcard import statistics

register = template.Library()


@register.filter
def sees_statistics(user) -> bool:
    return statistics.scope_for(user) is not None
