#!/bin/sh
# data/speech/make_digits.sh — a spoken-digit corpus made reproducibly with Debian's espeak-ng.
#
#   sh data/speech/make_digits.sh [-o DIR] [-j JOBS] [--quick] [--split speaker|accent] [--dry-run]
#
# Speaks the ten digits "zero" … "nine" with 8 English voices (en-us, en, en-gb-scotland,
# en-gb-x-rp, en-gb-x-gbclan, en-gb-x-gbcwmd, en-029, en-us-nyc) × 13 variants (+m1 … +m8,
# +f1 … +f5) = 104 synthetic speakers, each at 3 speeds (130, 165, 200 words a minute) × 3
# pitches (35, 50, 65): 9360 clips. espeak-ng writes 22.05 kHz WAV; sox converts each to
# 16 kHz mono 16-bit PCM, 1 dB down (no dither, so reruns are byte-identical for one
# espeak-ng and sox).
#
# Writes, under DIR (default data/speech/digits, which git ignores):
#   wav/<voice>+<variant>/<digit>_s<speed>_p<pitch>.wav
#   all.csv, train.csv, test.csv   path,label,group,word,voice,variant,speed,pitch
# with paths relative to DIR, label the digit (0-9) and group the speaker (voice+variant).
#
# The split is by speaker: no speaker of test.csv is heard in train.csv. With --split speaker
# (the default) the test speakers are those whose voice index v and variant index p (in the
# orders above) have (v + 2p) mod 5 = 0: 21 of the 104, among them every voice and every
# variant (each also heard in training with other partners), i.e. new speakers of known
# accents and timbres. With --split accent the test set is every speaker of two voices
# (en-029 and en-gb-x-gbcwmd) that training never hears at all: 26 speakers.
#
# --quick makes 40 clips (voices en-us and en-gb-scotland × variants +m1 and +f2, one speed
# and pitch) for tests; --dry-run writes the three CSV files but no audio.
#
# Time: about 10 minutes of CPU for the full corpus (some 65 ms a clip, mostly starting
# espeak-ng and sox), divided by -j (default: the number of cores) on an otherwise idle
# machine; measured 30.5 minutes at -j 2 (207 s user + 285 s system CPU) on a 2-core machine
# shared with other builds (load average ~15). It takes about 240 MB of disk.
set -eu

out=data/speech/digits
jobs=$(nproc 2>/dev/null || echo 1)
quick=0
dry=0
split=speaker
while [ $# -gt 0 ]; do
    case "$1" in
    -o) out=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --dry-run) dry=1; shift ;;
    --split) split=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "make_digits.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$split" in speaker|accent) ;; *) echo "make_digits.sh: --split is speaker or accent" >&2; exit 2 ;; esac
for tool in espeak-ng sox; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "make_digits.sh: $tool is not installed (apt-get install espeak-ng sox)" >&2
        exit 1
    fi
done

voices="en-us en en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-029 en-us-nyc"
variants="m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5"
speeds="130 165 200"
pitches="35 50 65"
words="zero one two three four five six seven eight nine"
if [ "$quick" = 1 ]; then
    use_voices="en-us en-gb-scotland"
    use_variants="m1 f2"
    speeds="165"
    pitches="50"
else
    use_voices=$voices
    use_variants=$variants
fi

# every voice and variant must exist in this espeak-ng (an unknown variant would be ignored
# silently, giving two speakers the same voice)
for v in $use_voices; do
    espeak-ng -v "$v" -q x 2>/dev/null || {
        echo "make_digits.sh: this espeak-ng has no voice '$v'" >&2
        exit 1
    }
done
have_variants=$(espeak-ng --voices=variant | awk 'NR > 1 { sub(/^!v\//, "", $5); print $5 }')
for p in $use_variants; do
    printf '%s\n' "$have_variants" | grep -qx "$p" || {
        echo "make_digits.sh: this espeak-ng has no variant '$p'" >&2
        exit 1
    }
done

mkdir -p "$out"
list="$out/.jobs"
# The plan, in one awk pass: the three manifests and the job list (speaker, speed, pitch,
# word, output file); stdout gets the speakers' folders.
speakers=$(awk -v voices="$voices" -v variants="$variants" -v usev="$use_voices" \
    -v usep="$use_variants" -v speeds="$speeds" -v pitches="$pitches" -v words="$words" \
    -v mode="$split" -v out="$out" 'BEGIN {
    nv = split(voices, V, " "); np = split(variants, P, " ")
    for (i = 1; i <= nv; i++) vidx[V[i]] = i - 1
    for (i = 1; i <= np; i++) pidx[P[i]] = i - 1
    nuv = split(usev, UV, " "); nup = split(usep, UP, " ")
    ns = split(speeds, S, " "); nh = split(pitches, H, " "); nw = split(words, W, " ")
    head = "path,label,group,word,voice,variant,speed,pitch"
    print head > (out "/all.csv.tmp"); print head > (out "/train.csv.tmp")
    print head > (out "/test.csv.tmp")
    printf "" > (out "/.jobs")
    for (a = 1; a <= nuv; a++) for (b = 1; b <= nup; b++) {
        v = UV[a]; p = UP[b]; spk = v "+" p
        if (mode == "speaker") part = (vidx[v] + 2 * pidx[p]) % 5 == 0 ? "test" : "train"
        else part = (v == "en-029" || v == "en-gb-x-gbcwmd") ? "test" : "train"
        print spk
        for (c = 1; c <= ns; c++) for (e = 1; e <= nh; e++) for (d = 0; d < nw; d++) {
            rel = "wav/" spk "/" d "_s" S[c] "_p" H[e] ".wav"
            row = rel "," d "," spk "," W[d + 1] "," v "," p "," S[c] "," H[e]
            print row > (out "/all.csv.tmp"); print row > (out "/" part ".csv.tmp")
            print spk, S[c], H[e], W[d + 1], out "/" rel > (out "/.jobs")
        }
    }
}')
if [ "$dry" = 0 ]; then
    for spk in $speakers; do mkdir -p "$out/wav/$spk"; done
else
    : >"$list"
fi

# one clip: espeak-ng to a temporary 22.05 kHz file, sox to 16 kHz mono 16-bit, 1 dB lower
# (espeak-ng speaks near full scale and the resampler's ringing would clip a few samples)
# shellcheck disable=SC2016
xargs -r -P "$jobs" -L 1 sh -c '
    set -e
    tmp="$5.22k.tmp"
    espeak-ng -v "$1" -s "$2" -p "$3" -w "$tmp" "$4"
    sox -D "$tmp" -r 16000 -c 1 -b 16 -e signed-integer "$5" gain -1
    rm -f "$tmp"
' make_digits <"$list"
rm -f "$list"
for part in all train test; do mv "$out/$part.csv.tmp" "$out/$part.csv"; done
n=$(($(wc -l <"$out/all.csv") - 1))
ntr=$(($(wc -l <"$out/train.csv") - 1))
nte=$(($(wc -l <"$out/test.csv") - 1))
echo "make_digits.sh: $n clips in $out ($ntr train, $nte test, split by $split)"
