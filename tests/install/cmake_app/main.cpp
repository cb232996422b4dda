// GETs each URL given through one session with the C++ wrapper, trusting
// the extra CA in $REQIVO_DEMO_CA for https URLs when it is set.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <reqivo.hpp>

int main(int argc, char **argv) {
  reqivo::session s;
  try {
    if (const char *ca = std::getenv("REQIVO_DEMO_CA")) {
      std::ifstream in(ca);
      std::stringstream pem;
      pem << in.rdbuf();
      s.tls(reqivo::tls_config::builder().add_root_pem(pem.str()).build());
    }
    for (int i = 1; i < argc; i++) {
      reqivo::response r = s.get(argv[i]);
      std::cout << "GET " << argv[i] << " -> " << r.status() << " " << r.reason() << ", "
                << r.body().size() << " bytes" << (r.reused() ? ", reused" : "")
                << ((r.raw().flags & REQIVO_RESPONSE_TLS) ? ", TLS" : "") << "\n";
    }
  } catch (const reqivo::error &e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
