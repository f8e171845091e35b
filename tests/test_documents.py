"""documents.encode: the functions compiled from the snapshot's declarations give what encoding by
looking at each value gives, and decode_written reads it back to the same race."""

from __future__ import annotations

from datetime import date, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from racecal import documents
from racecal.model import Athlete, Race, Result, Session, Source, Status, Venue

texts = st.text(min_size=0, max_size=12)
maybe = st.none() | texts
days = st.dates(date(1900, 1, 1), date(2100, 12, 31))
venues = st.builds(Venue, maybe, maybe, maybe, st.none() | st.floats(-90, 90), st.none() | st.floats(-180, 180))
sources = st.builds(Source, texts, maybe, maybe, st.none() | days, maybe)
results = st.builds(Result, st.none() | st.integers(1, 10_000), maybe, maybe)
sessions = st.builds(Session, texts, texts, days, st.times().map(lambda t: time(t.hour, t.minute)), st.integers(1, 1440))


@st.composite
def races(draw: st.DrawFn) -> Race:
    start = draw(days.filter(lambda d: d.year < 2100))
    return Race(
        id=draw(texts),
        name=draw(texts),
        start=start,
        end=start + timedelta(days=draw(st.integers(0, 30))),
        status=draw(st.sampled_from(list(Status))),
        meet_id=draw(maybe),
        series=draw(maybe),
        venue=draw(st.none() | venues),
        timezone=draw(st.none() | st.sampled_from(["Europe/Oslo", "Asia/Kathmandu", "UTC"])),
        disciplines=tuple(draw(st.lists(texts, max_size=3))),
        reason=draw(maybe),
        note=draw(maybe),
        url=draw(maybe),
        sources=tuple(draw(st.lists(sources, max_size=3))),
        result=draw(st.none() | results),
        sessions=tuple(draw(st.lists(sessions, max_size=3))),
    )


@settings(max_examples=300, deadline=None)
@given(races())
def test_compiled_encoding_is_encoding_by_looking_at_each_value(race: Race) -> None:
    encoded = documents.encode(race)
    assert encoded == documents._encode_any(race)
    assert list(encoded) == list(documents._encode_any(race))  # the same key order too
    assert documents.decode_written(documents.SNAPSHOT, encoded) == race


@given(st.builds(Athlete, texts, texts, maybe, st.lists(texts, max_size=3).map(tuple)))
def test_an_athlete_is_encoded_as_by_looking_at_each_value(athlete: Athlete) -> None:
    assert documents.encode(athlete) == documents._encode_any(athlete)


def test_every_snapshot_class_has_a_compiled_encoder() -> None:
    assert set(documents._ENCODERS) == {shape.model for shape in documents.SNAPSHOT_SHAPES}
    assert documents.snapshot_fields_match_model() == []
