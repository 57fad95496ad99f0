/* tests/test_files.c — what nabla will and will not write over, and what it will read.
 *
 * The atomic writer replaces only regular files (or the file a link points to): a FIFO, a
 * directory, a dangling link and — as root — a character device made in a temporary directory
 * are refused and left as they were (the real /dev/null is never touched). A replaced file
 * keeps its mode; temporary files left by a killed writer are removed by the next write;
 * output checks fail before any work for a missing directory; and reading a FIFO fails at
 * once instead of waiting for a writer. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static const char *tmp(const char *name) {
    static char buf[8][512];
    static int k;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nabla-files-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static bool has_text(const char *path, const char *text) {
    char buf[256] = {0};
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(text) && !memcmp(buf, text, n);
}

/* Writes text to path through the public atomic writer. */
static nb_status atomic_text(const char *path, const char *text, unsigned flags) {
    nb_atomic_file *af;
    nb_status s = nb_atomic_open(path, flags, &af);
    if (s != NB_OK) return s;
    fputs(text, nb_atomic_stream(af));
    return nb_atomic_commit(af);
}

/* Names in dir containing `part`. */
static int count_entries(const char *part) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += strstr(e->d_name, part) != NULL;
    if (d) closedir(d);
    return n;
}

static void test_fifo_refused(void) {
    const char *fifo = tmp("out.fifo");
    CHECK(mkfifo(fifo, 0600) == 0);
    nb_status s = atomic_text(fifo, "data", 0);
    CHECK(s == NB_ERR_IO && strstr(nb_last_error(), "FIFO") && strstr(nb_last_error(), fifo));
    CHECK(nb_output_check(fifo) == NB_ERR_IO);
    struct stat st;
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    /* the library's own writers take the same path */
    nb_array a = {.type = NB_ELEM_F32, .rank = 1, .shape = {1}, .numel = 1, .data = &(float){1}};
    CHECK(nb_npy_write(fifo, &a) == NB_ERR_IO);
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(count_entries(".tmp-") == 0);
}

static void test_device_refused(void) {
    /* A link to a device is refused too: the link made here points at a FIFO for a non-root
     * run and at a character device made in the temporary directory for root. */
    const char *dev = tmp("dev");
    bool root = geteuid() == 0;
    if (root)
        CHECK(mknod(dev, S_IFCHR | 0600, makedev(1, 3)) == 0);
    else
        CHECK(mkfifo(dev, 0600) == 0);
    struct stat st;
    if (root) {
        nb_status s = atomic_text(dev, "data", 0);
        CHECK(s == NB_ERR_IO && strstr(nb_last_error(), "character device"));
        CHECK(lstat(dev, &st) == 0 && S_ISCHR(st.st_mode));
    }
    const char *link = tmp("dev.link");
    CHECK(symlink(dev, link) == 0);
    nb_status s = atomic_text(link, "data", 0);
    CHECK(s == NB_ERR_IO && strstr(nb_last_error(), "symbolic link to"));
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(dev, &st) == 0 && (root ? S_ISCHR(st.st_mode) : S_ISFIFO(st.st_mode)));
}

static void test_directory_and_dangling_link_refused(void) {
    const char *d = tmp("subdir");
    CHECK(mkdir(d, 0700) == 0);
    CHECK(atomic_text(d, "x", 0) == NB_ERR_IO && strstr(nb_last_error(), "a directory"));
    char slash[600];
    snprintf(slash, sizeof slash, "%s/", tmp("newdir"));
    CHECK(nb_output_check(slash) != NB_OK);
    const char *dangling = tmp("dangling");
    CHECK(symlink(tmp("nowhere"), dangling) == 0);
    CHECK(atomic_text(dangling, "x", 0) == NB_ERR_IO && strstr(nb_last_error(), "missing file"));
    CHECK(access(tmp("nowhere"), F_OK) != 0);
}

static void test_link_written_through(void) {
    const char *file = tmp("real.txt"), *link = tmp("link.txt");
    write_text(file, "old");
    CHECK(symlink("real.txt", link) == 0);
    CHECK_OK(atomic_text(link, "new", 0));
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(has_text(file, "new"));
}

static void test_mode_kept(void) {
    const char *file = tmp("mode.txt");
    write_text(file, "old");
    CHECK(chmod(file, 0604) == 0);
    CHECK_OK(atomic_text(file, "new", 0));
    struct stat st;
    CHECK(stat(file, &st) == 0 && (st.st_mode & 07777) == 0604);
    CHECK(has_text(file, "new"));
    /* a new file: 0666 less the umask */
    mode_t old = umask(022);
    const char *fresh = tmp("fresh.txt");
    CHECK_OK(atomic_text(fresh, "x", NB_ATOMIC_NO_SYNC));
    CHECK(stat(fresh, &st) == 0 && (st.st_mode & 07777) == 0644);
    umask(old);
}

static void test_stale_temporaries_cleaned(void) {
    /* a pid that no longer runs: a child that has exited and been reaped */
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0);
    waitpid(child, NULL, 0);
    char dead[600], alive[600], other[600];
    snprintf(dead, sizeof dead, "%s.tmp-%ld-1f2e3d0", tmp("m.safetensors"), (long)child);
    snprintf(alive, sizeof alive, "%s.tmp-%ld-abc0", tmp("m.safetensors"), (long)getppid());
    snprintf(other, sizeof other, "%s.tmp-%ld-1f2e3d0", tmp("other.safetensors"), (long)child);
    write_text(dead, "partial");
    write_text(alive, "partial");
    write_text(other, "partial");
    const char *user = tmp("m.safetensors.tmp-notes"); /* not our naming: kept */
    write_text(user, "mine");
    CHECK_OK(atomic_text(tmp("m.safetensors"), "model", NB_ATOMIC_NO_SYNC));
    CHECK_MSG(access(dead, F_OK) != 0, "the stale temporary file %s is still there", dead);
    CHECK(access(alive, F_OK) == 0 && access(other, F_OK) == 0 && access(user, F_OK) == 0);
    /* with NO_CLEAN, nothing is looked for; nb_output_dir cleans a whole directory */
    write_text(dead, "partial");
    CHECK_OK(atomic_text(tmp("m.safetensors"), "model", NB_ATOMIC_NO_CLEAN));
    CHECK(access(dead, F_OK) == 0);
    CHECK_OK(nb_output_dir(dir));
    CHECK(access(dead, F_OK) != 0 && access(other, F_OK) != 0);
    CHECK(access(alive, F_OK) == 0 && access(user, F_OK) == 0);
    unlink(alive);
    unlink(user);
}

static void test_output_check(void) {
    const char *missing = tmp("no/such/dir/m.safetensors");
    CHECK(nb_output_check(missing) == NB_ERR_IO && strstr(nb_last_error(), "does not exist"));
    int before = count_entries("");
    CHECK_OK(nb_output_check(tmp("ok.safetensors")));
    CHECK_MSG(count_entries("") == before, "the check left a file behind");
    CHECK(access(tmp("ok.safetensors"), F_OK) != 0);
    /* a name too long for the file system is found before any work, too */
    char longname[400];
    memset(longname, 'n', 300);
    longname[300] = 0;
    CHECK(nb_output_check(tmp(longname)) == NB_ERR_IO);
    /* a long name that fits: its temporary name is shortened to fit */
    longname[250] = 0;
    CHECK_OK(atomic_text(tmp(longname), "ok", 0));
    CHECK(has_text(tmp(longname), "ok"));
    unlink(tmp(longname));
    /* nb_output_dir creates a missing directory, refuses a file */
    CHECK_OK(nb_output_dir(tmp("made")));
    struct stat st;
    CHECK(stat(tmp("made"), &st) == 0 && S_ISDIR(st.st_mode));
    write_text(tmp("plain"), "x");
    CHECK(nb_output_dir(tmp("plain")) == NB_ERR_IO && strstr(nb_last_error(), "not a directory"));
    CHECK_OK(nb_sync_dir(tmp("made")));
}

static void test_abort_keeps_old(void) {
    const char *file = tmp("keep.txt");
    write_text(file, "old");
    nb_atomic_file *af;
    CHECK_OK(nb_atomic_open(file, 0, &af));
    fputs("half of the new", nb_atomic_stream(af));
    nb_atomic_abort(af);
    CHECK(has_text(file, "old"));
    CHECK(count_entries("keep.txt.tmp-") == 0);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_files: reading a FIFO hung\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

static void test_fifo_read_refused(void) {
    const char *fifo = tmp("in.fifo");
    CHECK(mkfifo(fifo, 0600) == 0);
    signal(SIGALRM, on_alarm);
    alarm(10); /* the old reader waited here for a writer forever */
    nb_csv c;
    CHECK(nb_csv_read(fifo, NULL, &c) == NB_ERR_IO && strstr(nb_last_error(), "FIFO"));
    nb_array a;
    CHECK(nb_idx_read(fifo, &a) == NB_ERR_IO);
    nb_spec *spec;
    CHECK(nb_spec_read(fifo, &spec) == NB_ERR_IO);
    alarm(0);
    CHECK(nb_csv_read(dir, NULL, &c) == NB_ERR_IO && strstr(nb_last_error(), "a directory"));
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    if (d) closedir(d);
    rmdir(path);
}

static void test_cleanup(void) {
    if (dir[0]) remove_tree(dir);
    CHECK(!dir[0] || access(dir, F_OK) != 0);
}

static const nbt_case cases[] = {
    {"fifo_refused", test_fifo_refused},
    {"device_refused", test_device_refused},
    {"directory_and_dangling_link_refused", test_directory_and_dangling_link_refused},
    {"link_written_through", test_link_written_through},
    {"mode_kept", test_mode_kept},
    {"stale_temporaries_cleaned", test_stale_temporaries_cleaned},
    {"output_check", test_output_check},
    {"abort_keeps_old", test_abort_keeps_old},
    {"fifo_read_refused", test_fifo_read_refused},
    {"cleanup", test_cleanup},
};

NBT_MAIN(cases)
