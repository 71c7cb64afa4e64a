/* Connection abuse: a client dribbling its headers a byte at a time is cut off; a flood of
 * 2000 connections meets the connection limit cleanly, connections within it are served,
 * and the service answers normally once the flood is gone. */
#include "check_run.h"
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "trm/util.h"

static int open_conn(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True when the peer has closed (or reset) the connection within timeout_ms. */
static bool closed_by_peer(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[512];
    if (poll(&p, 1, timeout_ms) <= 0)
        return false;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET) || (n > 0 && strstr(buf, "HTTP/1.1 "));
}

START_TEST(slow_headers_are_cut_off)
{
    struct trmd t;
    const char *env[] = {"TRM_REQUEST_HEADER_TIMEOUT_S=1", "TRM_CONNECTION_TIMEOUT_S=60", NULL};
    h_trmd_start(&t, env);
    int fd = open_conn(t.port);
    ck_assert_int_ge(fd, 0);
    const char *start = "GET /healthz HTTP/1.1\r\nX-Slow: ";
    ck_assert_int_gt(send(fd, start, strlen(start), MSG_NOSIGNAL), 0);
    double t0 = trm_now_ms();
    bool cut = false;
    int sent = 0;
    /* A byte every 300 ms would keep an inactivity timeout happy for ever. */
    while (!cut && sent < 40) {
        cut = closed_by_peer(fd, 300);
        if (!cut)
            cut = send(fd, "x", 1, MSG_NOSIGNAL) < 0;
        sent++;
    }
    double ms = trm_now_ms() - t0;
    close(fd);
    printf("connections: a client dribbling headers was cut off after %.0f ms (%d bytes)\n", ms,
           sent);
    ck_assert_msg(cut, "the slow client was never cut off");
    /* Everyone else is still served. */
    struct h_resp r;
    h_http(&t, "GET", "/healthz", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
}
END_TEST

START_TEST(two_thousand_connections)
{
    enum { N = 2000, LIMIT = 1000 };
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < N + 100 && rl.rlim_max >= N + 100) {
        rl.rlim_cur = N + 100;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct trmd t;
    const char *env[] = {"TRM_MAX_CONNECTIONS=1000", "TRM_REQUEST_HEADER_TIMEOUT_S=30", NULL};
    h_trmd_start(&t, env);
    int *fds = calloc(N, sizeof *fds);
    int opened = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = open_conn(t.port);
        opened += fds[i] >= 0;
    }
    usleep(500000);
    /* Past the limit, connections are closed at once; within it, requests are answered. */
    int refused = 0;
    for (int i = LIMIT + 50; i < N; i++)
        refused += fds[i] < 0 || closed_by_peer(fds[i], 20);
    /* The refusal is a complete 503 problem whose body matches its Content-Length. */
    int probe = open_conn(t.port);
    char rbuf[2048] = "";
    size_t got = 0;
    struct pollfd rp = {.fd = probe, .events = POLLIN};
    while (got < sizeof rbuf - 1 && poll(&rp, 1, 2000) > 0) {
        ssize_t n = recv(probe, rbuf + got, sizeof rbuf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(probe);
    ck_assert_msg(strncmp(rbuf, "HTTP/1.1 503", 12) == 0, "refusal: %.40s", rbuf);
    const char *body = strstr(rbuf, "\r\n\r\n");
    long declared = atol(strstr(rbuf, "Content-Length: ") + 16);
    ck_assert_int_eq((long)strlen(body + 4), declared);
    json_t *problem = json_loads(body + 4, 0, NULL);
    ck_assert_ptr_nonnull(problem);
    json_decref(problem);
    int answered = 0;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 20; i++) {
        char buf[1024] = "";
        if (fds[i] < 0 || send(fds[i], req, strlen(req), MSG_NOSIGNAL) < 0)
            continue;
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        if (poll(&p, 1, 5000) > 0 && recv(fds[i], buf, sizeof buf - 1, 0) > 0)
            answered += strncmp(buf, "HTTP/1.1 200", 12) == 0;
    }
    ck_assert(h_trmd_alive(&t));
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    usleep(300000);
    struct h_resp r;
    h_http(&t, "GET", "/healthz", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    printf("connections: %d of %d opened, %d past the limit of %d closed at once, %d of 20 "
           "within it answered\n",
           opened, N, refused, LIMIT, answered);
    ck_assert_int_ge(refused, (N - LIMIT - 50) / 2);
    ck_assert_int_ge(answered, 15);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connections");
    TCase *tc = tcase_create("connections");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, slow_headers_are_cut_off);
    tcase_add_test(tc, two_thousand_connections);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
