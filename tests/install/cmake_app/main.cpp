// GETs each URL given through one session with the C++ wrapper.
#include <iostream>

#include <reqivo.hpp>

int main(int argc, char **argv) {
  reqivo::session s;
  try {
    for (int i = 1; i < argc; i++) {
      reqivo::response r = s.get(argv[i]);
      std::cout << "GET " << argv[i] << " -> " << r.status() << " " << r.reason() << ", "
                << r.body().size() << " bytes" << (r.reused() ? ", reused" : "") << "\n";
    }
  } catch (const reqivo::error &e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
