"""Reference for byte-level BPE (tests/test_text.c, test `bpe_matches_reference`).

Writes a small synthetic corpus (tests/data/text/bpe_corpus.txt: English-like words, UTF-8
words, stray bytes >= 0x80 that are not UTF-8, digits, contractions, punctuation runs, tabs,
CRLF and runs of spaces), a sample text (tests/data/text/bpe_sample.txt), and
tests/ref/text.txt with
    words    the byte lengths of the sample's words under nabla's splitter
    merges   [M, 2] the merges learned from the corpus (M = 300, pairs seen at least twice)
    ids      the sample encoded with those merges
computed here independently of nabla: the splitter is GPT-2's pattern with byte classes
(letters A-Z a-z and every byte >= 0x80, digits 0-9, spaces \\t \\n \\v \\f \\r and ' ') written
as a Python regular expression over Latin-1, and BPE is the textbook loop: count every
adjacent pair in every word (weighted by the word's count), merge the most frequent (ties:
the smaller pair) left to right, repeat; encoding applies the lowest-ranked merge present
until none is. Run from the repository root:

    /usr/bin/python3 tests/ref/gen_text.py
"""
import collections
import os
import random
import re

from fixture_io import FixtureWriter

SP = r" \t\n\v\f\r"
LET = r"A-Za-z\x80-\xff"
PATTERN = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)"
    + r"| ?[" + LET + r"]+"
    + r"| ?[0-9]+"
    + r"| ?[^" + SP + LET + r"0-9]+"
    + r"|[" + SP + r"]+(?![^" + SP + r"])"
    + r"|[" + SP + r"]+"
)
MERGES = 300


def words(data):
    text = data.decode("latin-1")
    out = [m.group(0).encode("latin-1") for m in PATTERN.finditer(text)]
    assert b"".join(out) == data
    return out


def merge(seq, a, b, z):
    out, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
            out.append(z)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


def train(data, n_merges, min_count=2):
    counts = collections.Counter(w for w in words(data) if len(w) >= 2)
    seqs = {w: list(w) for w in counts}
    merges = []
    for k in range(n_merges):
        pairs = collections.Counter()
        for w, c in counts.items():
            s = seqs[w]
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += c
        if not pairs:
            break
        (a, b), c = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if c < min_count:
            break
        merges.append((a, b))
        for w in seqs:
            seqs[w] = merge(seqs[w], a, b, 256 + k)
    return merges


def encode(data, merges):
    rank = {m: k for k, m in enumerate(merges)}
    out = []
    for w in words(data):
        s = list(w)
        while len(s) > 1:
            r = min(rank.get((s[i], s[i + 1]), len(merges)) for i in range(len(s) - 1))
            if r == len(merges):
                break
            s = merge(s, merges[r][0], merges[r][1], 256 + r)
        out += s
    return out


def corpus(rng):
    vocab = ("the of and to in is was that for it with as his on be at by had are but from "
             "not this have they which one you were her all she there would their we him been "
             "has when who will more no if out so said what up its about into than them can "
             "only other new some could time these two may then do first any my now such like "
             "our over man me even most made after also did many before must through back "
             "years where much your way well down should because each just those people how "
             "too little state good very make world still own see men work long get here "
             "between both life being under never day same another know while last might us "
             "great old year off come since against go came right used take three").split()
    vocab += ["über", "café", "naïve", "日本語", "Zürich", "façade", "ðe", "€uro", "ünïcödé"]
    parts = []
    for _ in range(900):
        n = rng.randint(3, 14)
        ws = []
        for i in range(n):
            w = rng.choice(vocab)
            r = rng.random()
            if r < 0.08:
                w = w.capitalize()
            elif r < 0.12:
                w = w + rng.choice(["'s", "'t", "'re", "'ll", "'d", "'ve", "'m"])
            elif r < 0.15:
                w = str(rng.randint(0, 99999))
            elif r < 0.17:
                w = w + rng.choice(["...", "!?", "--", "()", "\"", ";"])
            ws.append(w)
        sep = rng.choice([" ", " ", " ", " ", "  ", "\t"])
        line = sep.join(ws) + rng.choice([".", "!", "?", ",", ""])
        line = line.encode("utf-8")
        if rng.random() < 0.05:
            line += bytes([rng.randint(0x80, 0xFF) for _ in range(rng.randint(1, 3))])
        parts.append(line + rng.choice([b"\n", b"\n", b"\n", b"\r\n", b"\n\n", b"   \n",
                                       b"\n%\n"]))
    return b"".join(parts)


def main():
    rng = random.Random(1234)
    data = corpus(rng)
    sample = (b"  Hello\n\n\tworld's  it's 'tis THE people, 12345abc x  \r\n"
              b"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xc3\xbcber\xff\xfe -- ...!? "
              b"the state of the world; they'll've  end   ") + data[:2000]
    os.makedirs("tests/data/text", exist_ok=True)
    with open("tests/data/text/bpe_corpus.txt", "wb") as f:
        f.write(data)
    with open("tests/data/text/bpe_sample.txt", "wb") as f:
        f.write(sample)
    merges = train(data, MERGES)
    ids = encode(sample, merges)
    fx = FixtureWriter("tests/ref/text.txt", "Generated by tests/ref/gen_text.py; do not edit.\n"
                       "BPE on tests/data/text/bpe_corpus.txt, sample tests/data/text/bpe_sample.txt")
    fx.add("words", [len(w) for w in words(sample)])
    fx.add("merges", merges)
    fx.add("ids", ids)
    fx.write()
    print(f"corpus {len(data)} bytes, {len(merges)} merges, sample {len(sample)} bytes -> "
          f"{len(ids)} ids")


if __name__ == "__main__":
    main()
