"""Template context for every page: whether the large-text mode (长辈版) is on."""

ELDER_COOKIE = "elder"


def portal(request) -> dict:
    return {"elder_mode": request.COOKIES.get(ELDER_COOKIE) == "1"}
