/* test_speech — the spoken-digit corpus script (data/speech/make_digits.sh):
 *   - its full plan, without audio (--dry-run): 9360 clips of 104 speakers, every digit of
 *     every speaker at 9 speeds and pitches, the split by speaker (21 test speakers among
 *     them every voice and variant) and by accent (two whole voices), never a speaker on
 *     both sides;
 *   - the quick corpus made for real with espeak-ng and sox: 40 files, each 16 kHz mono
 *     16-bit with speech in it, the manifests' rows matching the files and the words, and an
 *     audio dataset built from them.
 * Skipped with a note when espeak-ng or sox is not installed. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "nbtest.h"

#include "nabla/audio.h"

#include <stdbool.h>
#include <stdlib.h>

static const char *const words[10] = {"zero", "one", "two",   "three", "four",
                                      "five", "six", "seven", "eight", "nine"};

static bool have_tools(void) {
    if (system("command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1") == 0)
        return true;
    printf("     note: espeak-ng or sox is not installed; the corpus checks were skipped "
           "(apt-get install espeak-ng sox)\n");
    return false;
}

static char tmp[64];

static bool make_tmp(void) {
    if (tmp[0]) return true;
    strcpy(tmp, "/tmp/nabla_speech_XXXXXX");
    return mkdtemp(tmp) != NULL;
}

/* reads DIR/name.csv with the manifest reader */
static nb_status read_part(const char *dir, const char *name, nb_manifest *m) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    return nb_manifest_read(path, m);
}

/* no group of a is in b (compared by name) */
static bool disjoint(const nb_manifest *a, const nb_manifest *b) {
    for (int i = 0; i < a->num_groups; i++)
        for (int64_t r = 0; r < b->n; r++)
            if (strcmp(a->group_names[i], b->group_names[b->groups[r]]) == 0) {
                bool used = false; /* a's name list may hold groups a has no rows of */
                for (int64_t q = 0; q < a->n && !used; q++) used = a->groups[q] == i;
                if (used) return false;
            }
    return true;
}

static int groups_used(const nb_manifest *m) {
    int k = 0;
    for (int g = 0; g < m->num_groups; g++) {
        bool used = false;
        for (int64_t r = 0; r < m->n && !used; r++) used = m->groups[r] == g;
        k += used;
    }
    return k;
}

static void plan(void) {
    if (!have_tools() || !make_tmp()) return;
    const char *splits[2] = {"speaker", "accent"};
    const int test_speakers[2] = {21, 26};
    for (int s = 0; s < 2; s++) {
        char cmd[512], dir[128];
        snprintf(dir, sizeof dir, "%s/plan_%s", tmp, splits[s]);
        snprintf(cmd, sizeof cmd,
                 "sh data/speech/make_digits.sh --dry-run --split %s -o %s "
                 ">/dev/null",
                 splits[s], dir);
        CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
        nb_manifest all, tr, te;
        CHECK_OK(read_part(dir, "all", &all));
        CHECK_OK(read_part(dir, "train", &tr));
        CHECK_OK(read_part(dir, "test", &te));
        CHECK(all.n == 9360 && all.num_groups == 104 && all.num_classes == 10);
        CHECK(tr.n + te.n == all.n);
        CHECK_MSG(groups_used(&te) == test_speakers[s] &&
                      groups_used(&tr) == 104 - test_speakers[s],
                  "split %s: %d test speakers", splits[s], groups_used(&te));
        CHECK(disjoint(&te, &tr) && disjoint(&tr, &te));
        /* every speaker says every digit 9 times */
        int count[104][10];
        memset(count, 0, sizeof count);
        for (int64_t i = 0; i < all.n; i++)
            if (all.groups[i] < 104 && all.labels[i] < 10) count[all.groups[i]][all.labels[i]]++;
        bool nine = true;
        for (int g = 0; g < 104; g++)
            for (int d = 0; d < 10; d++) nine &= count[g][d] == 9;
        CHECK(nine);
        if (s == 0) { /* every voice and every variant is among the test speakers */
            const char *voices[] = {
                "en-us+",          "en+",     "en-gb-scotland+", "en-gb-x-rp+", "en-gb-x-gbclan+",
                "en-gb-x-gbcwmd+", "en-029+", "en-us-nyc+"};
            for (int v = 0; v < 8; v++) {
                bool seen = false;
                for (int64_t r = 0; r < te.n && !seen; r++)
                    seen = strncmp(te.group_names[te.groups[r]], voices[v], strlen(voices[v])) == 0;
                CHECK_MSG(seen, "voice %s has no test speaker", voices[v]);
            }
        }
        nb_manifest_free(&all);
        nb_manifest_free(&tr);
        nb_manifest_free(&te);
    }
}

static void quick_corpus(void) {
    if (!have_tools() || !make_tmp()) return;
    char cmd[512], dir[128];
    snprintf(dir, sizeof dir, "%s/quick", tmp);
    snprintf(cmd, sizeof cmd, "sh data/speech/make_digits.sh --quick -j 2 -o %s >/dev/null", dir);
    double t0 = nb_time();
    CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
    printf("     the quick corpus (40 clips) took %.1f s\n", nb_time() - t0);
    nb_manifest all, tr, te;
    CHECK_OK(read_part(dir, "all", &all));
    CHECK_OK(read_part(dir, "train", &tr));
    CHECK_OK(read_part(dir, "test", &te));
    CHECK(all.n == 40 && tr.n == 20 && te.n == 20 && groups_used(&all) == 4);
    CHECK(disjoint(&te, &tr));
    /* each row: a 16 kHz mono 16-bit file holding speech (not silence) */
    for (int64_t i = 0; i < all.n; i++) {
        nb_audio a;
        nb_wav_info info;
        nb_status st = nb_wav_read(all.paths[i], &a, &info);
        CHECK_MSG(st == NB_OK, "%s", nb_last_error());
        if (st) continue;
        CHECK(info.rate == 16000 && info.channels == 1 && info.encoding == NB_WAV_S16);
        CHECK_MSG(a.frames > 3200 && a.frames < 32000, "%s: %lld samples", all.paths[i],
                  (long long)a.frames);
        double e = 0, peak = 0;
        for (int64_t t = 0; t < a.frames; t++)
            e += (double)a.data[t] * a.data[t], peak = fmax(peak, fabs(a.data[t]));
        CHECK_MSG(peak > 0.05 && sqrt(e / (double)a.frames) > 0.005, "%s is nearly silent",
                  all.paths[i]);
        nb_audio_free(&a);
    }
    /* the word column says the label's word */
    char path[256], line[512];
    snprintf(path, sizeof path, "%s/all.csv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int rows = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (rows++ == 0) {
            CHECK(strncmp(line, "path,label,group,word,voice,variant,speed,pitch", 47) == 0);
            continue;
        }
        char *p = strchr(line, ','), *l = p ? p + 1 : NULL;
        char *g = l ? strchr(l, ',') : NULL, *w = g ? strchr(g + 1, ',') : NULL;
        CHECK(w != NULL);
        if (!w) continue;
        int d = atoi(l);
        CHECK(d >= 0 && d < 10 && strncmp(w + 1, words[d], strlen(words[d])) == 0 &&
              w[1 + strlen(words[d])] == ',');
    }
    if (f) fclose(f);
    CHECK(rows == 41);
    /* a dataset of 1-second log-mel features */
    nb_features feat = nb_features_default();
    feat.length = 16000;
    feat.norm = NB_UTT_MEANVAR;
    nb_audio_data_opts o;
    memset(&o, 0, sizeof o);
    o.features = &feat;
    nb_dataset *ds = NULL;
    CHECK_OK(nb_audio_dataset(&tr, &o, &ds, NULL));
    if (ds) {
        nb_dataset_info info;
        nb_dataset_get_info(ds, &info);
        CHECK(info.n == 20 && info.sample_shape[1] == 40 && info.sample_shape[2] == 101 &&
              info.num_classes == 10);
    }
    nb_dataset_free(ds);
    nb_manifest_free(&all);
    nb_manifest_free(&tr);
    nb_manifest_free(&te);
}

static void cleanup(void) {
    if (!tmp[0]) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
}

static const nbt_case cases[] = {
    {"plan", plan},
    {"quick_corpus", quick_corpus},
    {"cleanup", cleanup},
};
NBT_MAIN(cases)
