// UDP generic segmentation offload for the tunnel links (vxlan, uplink): one sendmsg(2) hands the
// kernel a run of equal-sized datagrams in one buffer, and the UDP_SEGMENT control message
// (Linux 4.18, include/uapi/linux/udp.h; udp_send_skb in net/ipv4/udp.c) makes the kernel cut it
// into `segment`-byte datagrams, each with its own UDP and IPv4 header, as if sent one by one.
// This is what a Linux vxlan device gets from the NIC's tx-udp_tnl-segmentation: a TCP
// super-frame crosses the tunnel as one skb and becomes MTU-sized datagrams at the end.
// Node's dgram has no such call (it sends one datagram per system call), so this addon does only
// that, on the file descriptor of a bound node:dgram socket; receiving stays with libuv.
//
// Node-API only (ABI-stable across Node versions): built by native/build.mjs with the system C
// compiler, no node-gyp, no download.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_type_error(env, NULL, "udp_segment: bad arguments");      \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value int_value(napi_env env, int32_t value) {
  napi_value out;
  napi_create_int32(env, value, &out);
  return out;
}

// sendSegmented(fd, buffer, length, segment, address, port) → bytes sent, or -errno.
// `segment` 0 sends one ordinary datagram. The caller (udp-segmentation.ts) keeps every segment
// but the last exactly `segment` bytes long, the run at most UDP_MAX_SEGMENTS long and within
// 65,507 bytes: the kernel answers anything else with EINVAL.
static napi_value send_segmented(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "udp_segment: sendSegmented(fd, buffer, length, segment, address, port)");
    return NULL;
  }
  int32_t fd, segment, port;
  uint32_t length;
  void *data;
  size_t capacity;
  char address[INET_ADDRSTRLEN];
  size_t address_length;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_buffer_info(env, argv[1], &data, &capacity));
  CHECK(napi_get_value_uint32(env, argv[2], &length));
  CHECK(napi_get_value_int32(env, argv[3], &segment));
  CHECK(napi_get_value_string_utf8(env, argv[4], address, sizeof address, &address_length));
  CHECK(napi_get_value_int32(env, argv[5], &port));
  if (length > capacity || segment < 0 || segment > 0xffff || port < 1 || port > 0xffff) return int_value(env, -EINVAL);

  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, address, &to.sin_addr) != 1) return int_value(env, -EINVAL);

  struct iovec iov = {.iov_base = data, .iov_len = length};
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &to;
  msg.msg_namelen = sizeof to;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (segment > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_UDP;
    cmsg->cmsg_type = UDP_SEGMENT;
    cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t size = (uint16_t)segment;
    memcpy(CMSG_DATA(cmsg), &size, sizeof size);
  }
  ssize_t sent;
  do sent = sendmsg(fd, &msg, MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  return int_value(env, sent < 0 ? -errno : (int32_t)sent);
}

// The one argument of probe and enableGro: a file descriptor. False (a TypeError thrown) if it is not one.
static int fd_argument(napi_env env, napi_callback_info info, int32_t *fd) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "udp_segment: pass a file descriptor");
    return 0;
  }
  return 1;
}

// probe(fd) → 0 when the socket's kernel knows UDP_SEGMENT, else -errno (ENOPROTOOPT before 4.18).
static napi_value probe(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_argument(env, info, &fd)) return NULL;
  int value = 0;
  socklen_t size = sizeof value;
  return int_value(env, getsockopt(fd, SOL_UDP, UDP_SEGMENT, &value, &size) == 0 ? 0 : -errno);
}

// enableGro(fd) → 0, or -errno (ENOPROTOOPT before Linux 5.0). With UDP_GRO set the kernel hands
// the socket a run of same-sized datagrams of one flow as one message (udp_gro_receive_segment,
// net/ipv4/udp_offload.c; and a UDP GSO run from loopback is left whole: udp_unexpected_gso).
// The segment size would come in a control message that libuv does not read, so the reader
// (links/coalesced-datagrams.ts) finds the boundaries from the inner frames' own lengths.
static napi_value enable_gro(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_argument(env, info, &fd)) return NULL;
  int on = 1;
  return int_value(env, setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0 ? 0 : -errno);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "sendSegmented", NAPI_AUTO_LENGTH, send_segmented, NULL, &fn) != napi_ok) return NULL;
  napi_set_named_property(env, exports, "sendSegmented", fn);
  if (napi_create_function(env, "probe", NAPI_AUTO_LENGTH, probe, NULL, &fn) != napi_ok) return NULL;
  napi_set_named_property(env, exports, "probe", fn);
  if (napi_create_function(env, "enableGro", NAPI_AUTO_LENGTH, enable_gro, NULL, &fn) != napi_ok) return NULL;
  napi_set_named_property(env, exports, "enableGro", fn);
  return exports;
}
