/* Read .ics files with libical (Debian's libical-dev) and print, per event, what a client would
 * compute: the SUMMARY and the UTC instants of DTSTART and DTEND as POSIX seconds, one event a line:
 *     FILE<TAB>SUMMARY<TAB>START<TAB>END
 * A TZID is resolved against the VTIMEZONE in the same file only (never libical's built-in zones),
 * so the feed's own VTIMEZONE is what is tested. Usage: instants FILE... */
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (fread(text, 1, (size_t)size, f) != (size_t)size) { perror(path); exit(2); }
    text[size] = '\0';
    fclose(f);
    return text;
}

/* UTC seconds of a DTSTART/DTEND property; exits on anything it cannot resolve. */
static long long instant(icalcomponent *calendar, icalproperty *prop, const char *path) {
    struct icaltimetype t = icalvalue_get_datetime(icalproperty_get_value(prop));
    icalparameter *param = icalproperty_get_first_parameter(prop, ICAL_TZID_PARAMETER);
    icaltimezone *zone = NULL;
    if (param) {
        const char *tzid = icalparameter_get_tzid(param);
        zone = icalcomponent_get_timezone(calendar, tzid);
        if (!zone) { fprintf(stderr, "%s: no VTIMEZONE for %s\n", path, tzid); exit(3); }
    } else if (icaltime_is_utc(t)) {
        zone = icaltimezone_get_utc_timezone();
    } else {
        fprintf(stderr, "%s: floating time\n", path);
        exit(3);
    }
    return (long long)icaltime_as_timet_with_zone(t, zone);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *text = slurp(argv[i]);
        icalcomponent *calendar = icalparser_parse_string(text);
        if (!calendar) { fprintf(stderr, "%s: libical could not parse it\n", argv[i]); return 3; }
        for (icalcomponent *event = icalcomponent_get_first_component(calendar, ICAL_VEVENT_COMPONENT); event;
             event = icalcomponent_get_next_component(calendar, ICAL_VEVENT_COMPONENT)) {
            icalproperty *start = icalcomponent_get_first_property(event, ICAL_DTSTART_PROPERTY);
            icalproperty *end = icalcomponent_get_first_property(event, ICAL_DTEND_PROPERTY);
            if (!start || !end) { fprintf(stderr, "%s: event without DTSTART/DTEND\n", argv[i]); return 3; }
            printf("%s\t%s\t%lld\t%lld\n", argv[i], icalcomponent_get_summary(event),
                   instant(calendar, start, argv[i]), instant(calendar, end, argv[i]));
        }
        icalcomponent_free(calendar);
        free(text);
    }
    return 0;
}
