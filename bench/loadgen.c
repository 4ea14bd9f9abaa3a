/*
 * A WebSocket load generator that is never the bottleneck: one thread, epoll,
 * non-blocking sockets, OpenSSL for wss. Loopback only.
 *
 *   loadgen --port P [--tls] [--conns N] [--size B] [--inflight K]
 *           [--duration S] [--warmup S] [--mode echo|idle|handshake|listen]
 *           [--sources K]   (spread connections over 127.0.0.1 .. 127.0.0.K)
 *
 * echo:      opens N connections; once all are open (or OPEN_TIMEOUT has
 *            passed), each keeps K messages of B bytes in flight and sends
 *            another for every answer; warm-up and measurement start then.
 *            Reports messages/s, latency and how long opening took.
 * idle:      opens N connections, prints "ready" once all are open, then
 *            holds them for the duration (the runner measures the server).
 * handshake: N concurrent clients connect, finish the (TLS and) WebSocket
 *            handshake, close, and start again; reports handshakes/s.
 * listen:    opens N connections, prints "ready" once all are open, then
 *            counts the messages the server pushes to them (fan-out), each
 *            starting with the CLOCK_MONOTONIC nanoseconds it was published
 *            at; reports deliveries/s and publish-to-delivery latency.
 *
 * Prints one JSON object on standard output.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LATENCY_US 2000000

enum mode { ECHO, IDLE, HANDSHAKE, LISTEN };
enum state { CONNECTING, TLS_HANDSHAKE, UPGRADING, OPEN, CLOSED };

struct conn {
    int fd;
    int source; /* the last byte of its 127.0.0.x source address */
    SSL *ssl;
    enum state state;
    char *in;
    size_t inlen;
    char *out;
    size_t outlen, outoff;
    double *sent; /* ring of send times of messages in flight */
    int head, count;
    int pending; /* counted in the ramp until open or failed */
};

static struct {
    const char *host, *path;
    int port, tls, conns, size, inflight, mode, sources;
    double duration, warmup;
} opt = {.host = "127.0.0.1", .path = "/", .conns = 100, .size = 32, .inflight = 1,
         .mode = ECHO, .duration = 10, .warmup = 2, .sources = 1};

static SSL_CTX *ctx;
static int ep;
static uint32_t *histogram;
static long long received, handshakes, errors, opened;
static int measuring, going;
static char *frame;
static size_t framelen;
/* Connections are opened RAMP at a time, so handshakes do not time out. */
#define RAMP 200
#define OPEN_TIMEOUT 120
static struct conn *all;
static size_t BUF; /* per-connection buffer, sized for the messages in flight */
static int started, pending;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void make_frame(void) {
    size_t header = opt.size < 126 ? 2 : opt.size < 65536 ? 4 : 10;
    framelen = header + 4 + opt.size;
    frame = malloc(framelen);
    unsigned char *f = (unsigned char *)frame;
    f[0] = 0x82;
    if (opt.size < 126) {
        f[1] = 0x80 | opt.size;
    } else if (opt.size < 65536) {
        f[1] = 0x80 | 126;
        f[2] = opt.size >> 8;
        f[3] = opt.size & 0xff;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) f[2 + i] = ((uint64_t)opt.size >> (56 - 8 * i)) & 0xff;
    }
    memset(f + header, 0, 4); /* a zero mask: payload unchanged, still a masked frame */
    memset(f + header + 4, 'x', opt.size);
}

static void queue(struct conn *c, const char *data, size_t len) {
    if (c->outoff == c->outlen) c->outoff = c->outlen = 0;
    if (c->outlen + len > BUF) {
        memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
        c->outlen -= c->outoff;
        c->outoff = 0;
    }
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
}

static ssize_t io_read(struct conn *c, char *buf, size_t len) {
    if (!c->ssl) {
        ssize_t n = read(c->fd, buf, len);
        if (n < 0 && errno == EAGAIN) return -2;
        return n;
    }
    int n = SSL_read(c->ssl, buf, len);
    if (n > 0) return n;
    int e = SSL_get_error(c->ssl, n);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? -2 : -1;
}

static ssize_t io_write(struct conn *c, const char *buf, size_t len) {
    if (!c->ssl) {
        ssize_t n = write(c->fd, buf, len);
        if (n < 0 && errno == EAGAIN) return -2;
        return n;
    }
    int n = SSL_write(c->ssl, buf, len);
    if (n > 0) return n;
    int e = SSL_get_error(c->ssl, n);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? -2 : -1;
}

static void send_message(struct conn *c) {
    queue(c, frame, framelen);
    c->sent[(c->head + c->count) % opt.inflight] = now();
    c->count++;
}

static void start(struct conn *c);
static void flush(struct conn *c);

static void go(struct conn *c) {
    for (int i = 0; i < opt.inflight; i++) send_message(c);
    flush(c);
}

static void start_more(void) {
    while (pending < RAMP && started < opt.conns) {
        pending++;
        start(&all[started++]);
    }
}

static void settled(struct conn *c) {
    if (c->pending) {
        c->pending = 0;
        pending--;
        start_more();
    }
}

static void finish(struct conn *c, int failed) {
    if (failed) errors++;
    settled(c);
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->state = CLOSED;
    if (opt.mode == HANDSHAKE) start(c);
}

static void flush(struct conn *c) {
    while (c->outoff < c->outlen) {
        ssize_t n = io_write(c, c->out + c->outoff, c->outlen - c->outoff);
        if (n == -2) return;
        if (n <= 0) {
            finish(c, 1);
            return;
        }
        c->outoff += n;
    }
}

static void upgrade(struct conn *c) {
    char request[512];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     opt.path, opt.host, opt.port);
    c->state = UPGRADING;
    queue(c, request, n);
    flush(c);
}

static void tls_step(struct conn *c) {
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        upgrade(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) finish(c, 1);
}

static void opened_now(struct conn *c) {
    c->state = OPEN;
    opened++;
    settled(c);
    if (opt.mode == HANDSHAKE) {
        if (measuring) handshakes++;
        finish(c, 0);
    } else if (opt.mode == ECHO && going) {
        go(c);
    }
}

static void on_frames(struct conn *c) {
    size_t off = 0;
    while (c->inlen - off >= 2) {
        unsigned char *f = (unsigned char *)c->in + off;
        uint64_t len = f[1] & 0x7f;
        size_t header = 2;
        if (len == 126) {
            if (c->inlen - off < 4) break;
            len = (f[2] << 8) | f[3];
            header = 4;
        } else if (len == 127) {
            if (c->inlen - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | f[2 + i];
            header = 10;
        }
        if (c->inlen - off < header + len) break;
        off += header + len;
        if ((f[0] & 0x0f) == 0x9) {
            /* ping: answer with a pong carrying its payload, as RFC 6455
             * 5.5.3 requires (masked with a zero key: the bytes unchanged) */
            char pong[6 + 125] = {(char)0x8a, 0, 0, 0, 0, 0};
            if (len <= 125) {
                pong[1] = (char)(0x80 | len);
                memcpy(pong + 6, f + header, len);
                queue(c, pong, 6 + len);
            }
            continue;
        }
        if ((f[0] & 0x0f) >= 0x8) continue;
        if (opt.mode == LISTEN) {
            if (measuring) {
                uint64_t published = 0;
                for (uint64_t i = 0; i < len && i < 20 && f[header + i] >= '0' && f[header + i] <= '9'; i++)
                    published = published * 10 + (f[header + i] - '0');
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                int64_t us = ((int64_t)t.tv_sec * 1000000000 + t.tv_nsec - (int64_t)published) / 1000;
                histogram[us < 0 ? 0 : us < MAX_LATENCY_US ? us : MAX_LATENCY_US]++;
                received++;
            }
            continue;
        }
        if (c->count == 0) continue;
        double sent = c->sent[c->head];
        c->head = (c->head + 1) % opt.inflight;
        c->count--;
        if (measuring) {
            long us = (long)((now() - sent) * 1e6);
            histogram[us < MAX_LATENCY_US ? us : MAX_LATENCY_US]++;
            received++;
        }
        send_message(c);
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
    flush(c);
}

static void readable(struct conn *c) {
    for (;;) {
        if (c->inlen == BUF) {
            finish(c, 1);
            return;
        }
        ssize_t n = io_read(c, c->in + c->inlen, BUF - c->inlen);
        if (n == -2) break;
        if (n <= 0) {
            finish(c, 1);
            return;
        }
        c->inlen += n;
        if (c->state == UPGRADING) {
            char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
            if (!end) continue;
            if (strncmp(c->in, "HTTP/1.1 101", 12) != 0) {
                finish(c, 1);
                return;
            }
            size_t used = end + 4 - c->in;
            memmove(c->in, end + 4, c->inlen - used);
            c->inlen -= used;
            opened_now(c);
            if (c->state != OPEN) return;
        }
        if (c->state == OPEN && opt.mode != HANDSHAKE) on_frames(c);
        if (c->state == CLOSED) return;
    }
}

static void start(struct conn *c) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(opt.port)};
    inet_pton(AF_INET, opt.host, &addr.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in local = {.sin_family = AF_INET};
    local.sin_addr.s_addr = htonl(0x7f000000 | c->source);
    if (bind(c->fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
    if (opt.mode == HANDSHAKE) {
        struct linger l = {1, 0}; /* reset on close: no TIME_WAIT pile-up */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    c->inlen = c->outlen = c->outoff = 0;
    c->head = c->count = 0;
    c->state = CONNECTING;
    c->pending = opt.mode != HANDSHAKE;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        die("connect");
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void writable(struct conn *c) {
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            finish(c, 1);
            return;
        }
        if (opt.tls) {
            c->ssl = SSL_new(ctx);
            SSL_set_fd(c->ssl, c->fd);
            SSL_set_tlsext_host_name(c->ssl, "localhost");
            SSL_set_connect_state(c->ssl);
            c->state = TLS_HANDSHAKE;
            tls_step(c);
        } else {
            upgrade(c);
        }
        return;
    }
    if (c->state == TLS_HANDSHAKE) tls_step(c);
    else flush(c);
}

static void parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--tls")) { opt.tls = 1; continue; }
        i++;
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--path")) opt.path = v;
        else if (!strcmp(a, "--port")) opt.port = atoi(v);
        else if (!strcmp(a, "--conns")) opt.conns = atoi(v);
        else if (!strcmp(a, "--size")) opt.size = atoi(v);
        else if (!strcmp(a, "--inflight")) opt.inflight = atoi(v);
        else if (!strcmp(a, "--duration")) opt.duration = atof(v);
        else if (!strcmp(a, "--warmup")) opt.warmup = atof(v);
        else if (!strcmp(a, "--sources")) opt.sources = atoi(v);
        else if (!strcmp(a, "--mode"))
            opt.mode = !strcmp(v, "idle") ? IDLE : !strcmp(v, "handshake") ? HANDSHAKE
                     : !strcmp(v, "listen") ? LISTEN : ECHO;
        else {
            fprintf(stderr, "loadgen: unknown option %s\n", a);
            exit(2);
        }
    }
    if (!opt.port || strncmp(opt.host, "127.", 4) != 0) {
        fprintf(stderr, "loadgen: --port is required, and --host must be on 127.0.0.0/8\n");
        exit(2);
    }
}

static long percentile(double p) {
    long long total = 0, seen = 0;
    for (int i = 0; i <= MAX_LATENCY_US; i++) total += histogram[i];
    for (int i = 0; i <= MAX_LATENCY_US; i++) {
        seen += histogram[i];
        if (total && seen >= p * total) return i;
    }
    return -1;
}

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    parse(argc, argv);
    struct rlimit nofile = {opt.conns + 64, opt.conns + 64};
    setrlimit(RLIMIT_NOFILE, &nofile);
    histogram = calloc(MAX_LATENCY_US + 1, sizeof *histogram);
    make_frame();
    if (opt.tls) {
        ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    ep = epoll_create1(0);
    BUF = framelen * (opt.inflight + 1) + 4096;
    if (BUF < 16384) BUF = 16384;
    all = calloc(opt.conns, sizeof *all);
    for (int i = 0; i < opt.conns; i++) {
        all[i].in = malloc(BUF);
        all[i].out = malloc(BUF);
        all[i].sent = calloc(opt.inflight, sizeof(double));
        all[i].source = 1 + i % opt.sources;
    }
    if (opt.mode == HANDSHAKE) {
        for (started = 0; started < opt.conns; started++) start(&all[started]);
    } else {
        start_more();
    }
    struct epoll_event events[1024];
    double begin = now(), measureStart = 0, end = begin + opt.warmup + opt.duration;
    double cpuStart = 0, opening = 0;
    int announced = 0;
    if (opt.mode == ECHO || opt.mode == LISTEN) end += OPEN_TIMEOUT;
    while (now() < end) {
        if (opt.mode == ECHO && !going && (opened + errors >= opt.conns ||
                                           now() >= begin + OPEN_TIMEOUT)) {
            going = 1;
            opening = now() - begin;
            begin = now();
            end = begin + opt.warmup + opt.duration;
            for (int i = 0; i < started; i++)
                if (all[i].state == OPEN) go(&all[i]);
        }
        if (!measuring && (opt.mode != ECHO || going) && (opt.mode != LISTEN || announced)
            && now() >= begin + opt.warmup) {
            measuring = 1;
            measureStart = now();
            cpuStart = cpu_seconds();
        }
        if ((opt.mode == IDLE || opt.mode == LISTEN) && !announced
            && opened + errors >= opt.conns) {
            printf("ready %lld %lld\n", opened, errors);
            fflush(stdout);
            announced = 1;
            if (opt.mode == LISTEN) {
                opening = now() - begin;
                begin = now();
                end = begin + opt.warmup + opt.duration;
            }
        }
        int n = epoll_wait(ep, events, 1024, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == CLOSED) continue;
            if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) writable(c);
            if (c->state != CLOSED && events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                readable(c);
        }
    }
    double seconds = now() - measureStart;
    double rate = (opt.mode == HANDSHAKE ? handshakes : received) / seconds;
    printf("{\"mode\": \"%s\", \"connections\": %d, \"opened\": %lld, \"errors\": %lld, "
           "\"rate\": %.1f, \"p50_us\": %ld, \"p99_us\": %ld, \"seconds\": %.2f, "
           "\"cpu_seconds\": %.2f, \"opening_seconds\": %.2f}\n",
           opt.mode == ECHO ? "echo" : opt.mode == IDLE ? "idle"
           : opt.mode == LISTEN ? "listen" : "handshake", opt.conns,
           opened, errors, rate, percentile(0.5), percentile(0.99), seconds,
           cpu_seconds() - cpuStart, opening);
    return 0;
}
