/* tools/nabla/escape.c — text from files, made safe for a terminal.
 *
 * Model files carry strings the tool prints: metadata, class names, the stored spec, tensor
 * names — and messages quote paths and names. A string with an escape sequence in it
 * ("\x1b]0;...\a", "\x1b[2J") would drive the user's terminal, so whatever the tool prints
 * from a file goes through here: valid UTF-8 passes unchanged except control characters (C0,
 * DEL, C1) and the bidirectional overrides, which are shown as \xNN or \u{NNNN}; bytes that
 * are not valid UTF-8 are shown as \xNN. */
#include "cli.h"

#include <string.h>

/* The length of the valid UTF-8 sequence at s (its code point in *cp), or 0. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp) {
    unsigned c = s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (!n) return 0;
    uint32_t v = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < least[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return n;
}

static bool shown_escaped(uint32_t cp) {
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

bool cli_utf8_valid(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    uint32_t cp;
    for (size_t i = 0, n; s[i]; i += n)
        if (!(n = utf8_seq(s + i, &cp))) return false;
    return true;
}

size_t cli_escape(char *out, size_t cap, const char *text, size_t max_in) {
    const unsigned char *s = (const unsigned char *)text;
    size_t w = 0, i = 0, len = strlen(text);
    if (!cap) return 0;
    while (i < len && i < max_in) {
        char piece[16];
        size_t pl, adv;
        uint32_t cp = 0;
        size_t n = utf8_seq(s + i, &cp);
        if (!n) {
            pl = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
            adv = 1;
        } else if (shown_escaped(cp)) {
            pl = cp < 0x100 ? (size_t)snprintf(piece, sizeof piece, "\\x%02x", (unsigned)cp)
                            : (size_t)snprintf(piece, sizeof piece, "\\u{%04x}", (unsigned)cp);
            adv = n;
        } else {
            memcpy(piece, s + i, n);
            pl = n;
            adv = n;
        }
        if (w + pl + 4 > cap) break;
        memcpy(out + w, piece, pl);
        w += pl;
        i += adv;
    }
    if (i < len && w + 3 < cap) {
        memcpy(out + w, "...", 3);
        w += 3;
    }
    out[w] = 0;
    return w;
}

void cli_put_escaped_lines(FILE *f, const char *text) {
    char line[4096];
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        /* long lines go in pieces; each piece escaped on its own */
        for (size_t at = 0; at < n;) {
            size_t k = n - at < sizeof line - 1 ? n - at : sizeof line - 1;
            memcpy(line, p + at, k);
            line[k] = 0;
            cli_put_escaped(f, line);
            at += k;
        }
        if (p[n] == '\n') fputc('\n', f);
        p += n + (p[n] == '\n');
    }
}

void cli_put_escaped(FILE *f, const char *text) {
    char buf[1024];
    size_t len = strlen(text), at = 0;
    /* in pieces, each ending on a whole sequence */
    while (at < len) {
        const unsigned char *s = (const unsigned char *)text + at;
        size_t take = 0;
        while (at + take < len && take < 200) {
            uint32_t cp;
            size_t n = utf8_seq(s + take, &cp);
            take += n ? n : 1;
        }
        char piece[256];
        size_t pl = take < sizeof piece ? take : sizeof piece - 1;
        memcpy(piece, s, pl);
        piece[pl] = 0;
        cli_escape(buf, sizeof buf, piece, pl);
        fputs(buf, f);
        at += pl;
    }
}
