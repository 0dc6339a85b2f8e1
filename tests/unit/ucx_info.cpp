// detail/ucx_info.hpp on text captured from UCX 1.13 (ucp_context_print_info
// and ucp_ep_print_info on this machine kind), so a change in UCX's wording
// shows up here, not as a silent wrong decision.

#include <ucoro/ucx/detail/ucx_info.hpp>

#include <catch2/catch.hpp>

using namespace ucoro::detail;

namespace {

constexpr const char* context_sm = R"(#
# UCP context
#
#     component 0  :  self
#     component 1  :  tcp
#     component 2  :  sysv
#     component 3  :  posix
#     component 4  :  ib
#     component 5  :  rdmacm
#     component 6  :  cma
#
#            md 0  :  component 0  self 
#            md 1  :  component 2  sysv 
#            md 2  :  component 3  posix 
#            md 3  :  component 6  cma 
#
#      resource 0  :  md 0  dev 0  flags -- self/memory0
#      resource 1  :  md 1  dev 1  flags -- sysv/memory
#      resource 2  :  md 2  dev 1  flags -- posix/memory
#      resource 3  :  md 3  dev 1  flags -- cma/memory
#
)";

constexpr const char* context_tcp = R"(#
# UCP context
#
#     component 0  :  self
#     component 1  :  tcp
#     component 2  :  sysv
#     component 3  :  posix
#     component 4  :  ib
#     component 5  :  rdmacm
#     component 6  :  cma
#
#            md 0  :  component 1  tcp 
#
#      resource 0  :  md 0  dev 0  flags -- tcp/lo
#
)";

constexpr const char* endpoint_sm = R"(# ucoro failure detection: UCX error handling none (requested)
#
# UCP endpoint 
#
#               peer: <no debug data>
#                 lane[0]:  1:sysv/memory.0 md[1]           -> md[1]/sysv/sysdev[255] am am_bw#0
#                 lane[1]:  3:cma/memory.0 md[3]            -> md[3]/cma/sysdev[255] rma_bw#0
#
#                tag_send: 0..<egr/short>..93..<egr/bcopy>..8256..<rndv>..(inf)
#            tag_send_nbr: 0..<egr/short>..93..<egr/bcopy>..262144..<rndv>..(inf)
#
#                  rma_bw: mds rndv_rkey_size 9
#
)";

constexpr const char* endpoint_tcp = R"(# ucoro failure detection: UCX error handling peer (requested)
#
# UCP endpoint 
#
#               peer: <no debug data>
#                 lane[0]:  0:tcp/lo.0 md[0]                -> md[0]/tcp/sysdev[255] am am_bw#0 keepalive wireup
#
#                tag_send: 0..<egr/short>..8185..<egr/zcopy>..20553..<rndv>..(inf)
#
)";

// Constructed, not captured: a word that merely contains "am" ("am_bw") is
// not the role "am", and the AM lane decides shared_memory and local.
constexpr const char* endpoint_posix_am_bw_only = R"(#                 lane[0]:  2:posix/memory.0 md[2]          -> md[2]/posix/sysdev[255] am_bw#0
#                 lane[1]:  0:self/memory0 md[0]           -> md[0]/self/sysdev[255] am
)";

} // namespace

TEST_CASE("context resources name the transports", "[ucx_info]") {
  CHECK(parse_context_transports(context_sm) == std::vector<std::string>{"self", "sysv", "posix", "cma"});
  CHECK(parse_context_transports(context_tcp) == std::vector<std::string>{"tcp"});
  CHECK(parse_context_transports("").empty());
}

TEST_CASE("endpoint lanes: transports, devices, roles, and where active messages go", "[ucx_info]") {
  const ep_lanes sm = parse_ep_info(endpoint_sm);
  REQUIRE(sm.lanes.size() == 2);
  CHECK(sm.lanes[0].transport == "sysv");
  CHECK(sm.lanes[0].device == "memory.0");
  CHECK(sm.lanes[0].am);
  CHECK_FALSE(sm.lanes[0].rma);
  CHECK(sm.lanes[0].am_bw);
  CHECK(sm.lanes[1].transport == "cma");
  CHECK(sm.lanes[1].rma);
  CHECK_FALSE(sm.lanes[1].am);
  CHECK_FALSE(sm.lanes[1].am_bw);
  CHECK(sm.lanes[1] == ucoro::transport_lane{"cma", "memory.0", false, false, true, false, false});
  CHECK(sm.shared_memory);
  CHECK(sm.local);
  CHECK(sm.rendezvous_from == 8256); // the tag_send line, not tag_send_nbr's

  CHECK(parse_rendezvous_from("tag_send: 0..<egr/short>..8185..<egr/zcopy>..20553..<rndv>..(inf)") == 20553);
  CHECK(parse_rendezvous_from("tag_send: 0..<rndv>..(inf)") == 0);
  CHECK(parse_rendezvous_from("tag_send: 0..<egr/short>..(inf)") == 0);

  const ep_lanes tcp = parse_ep_info(endpoint_tcp);
  REQUIRE(tcp.lanes.size() == 1);
  CHECK(tcp.lanes[0].transport == "tcp");
  CHECK(tcp.lanes[0].device == "lo.0");
  CHECK(tcp.lanes[0].am);
  CHECK(tcp.lanes[0].am_bw);
  CHECK(tcp.lanes[0].wireup); // keepalive and wireup
  CHECK_FALSE(tcp.lanes[0].rma);
  CHECK_FALSE(tcp.lanes[0].amo);
  CHECK_FALSE(tcp.shared_memory);
  CHECK_FALSE(tcp.local);
  CHECK(tcp.rendezvous_from == 20553);

  const ep_lanes mixed = parse_ep_info(endpoint_posix_am_bw_only);
  REQUIRE(mixed.lanes.size() == 2);
  CHECK_FALSE(mixed.lanes[0].am); // am_bw is not am
  CHECK(mixed.lanes[0].am_bw);
  CHECK_FALSE(mixed.lanes[1].am_bw);
  CHECK(mixed.lanes[1].am);
  CHECK_FALSE(mixed.shared_memory); // the AM lane is self
  CHECK(mixed.local);
}

TEST_CASE("text without lanes parses to none", "[ucx_info]") {
  CHECK(parse_ep_info("").lanes.empty());
  CHECK(parse_ep_info("# UCP endpoint\n#   peer: <no debug data>\n").lanes.empty());
  CHECK(parse_ep_info("lane[0]: garbage without a resource").lanes.empty());
}
