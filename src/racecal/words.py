"""Dates, statuses and changes in words, shared by the feeds, the site and the diff."""

from __future__ import annotations

from datetime import date

from racecal.model import Status

STATUS_WORDS = {
    Status.CONFIRMED: "confirmed",
    Status.TENTATIVE: "tentative: reported as likely, not confirmed",
    Status.WITHDRAWN: "withdrawn",
    Status.CANCELLED: "cancelled",
}


def day_words(day: date) -> str:
    return f"{day.day} {day:%B} {day.year}"


def short_day(day: date) -> str:
    return f"{day.day} {day:%B}"


def span_words(start: date, end: date) -> str:
    if start == end:
        return day_words(start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%B} {end.year}"
    if start.year == end.year:
        return f"{start.day} {start:%B} – {end.day} {end:%B} {end.year}"
    return f"{day_words(start)} – {day_words(end)}"


def short_span(start: date, end: date) -> str:
    if start == end:
        return short_day(start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%B}"
    return f"{short_day(start)} – {short_day(end)}"
