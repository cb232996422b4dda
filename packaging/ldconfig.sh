#!/bin/sh
# Run at the end of `make install` and `make uninstall` as
#   packaging/ldconfig.sh install|uninstall LIBDIR   (DESTDIR in the environment)
# When LIBDIR is a directory the dynamic linker searches (one of ldconfig's,
# e.g. /usr/local/lib on Debian) and we are root, refreshes ldconfig's cache
# so programs find libreqivo.so.0 with no help. Otherwise, after install,
# says how a program finds it. Does nothing for a DESTDIR staging: the
# package built from it runs ldconfig where it is installed.
set -eu
action=$1 libdir=$2
[ -z "${DESTDIR:-}" ] || exit 0
PATH=$PATH:/usr/sbin:/sbin

searched() {
  want=$(readlink -f "$libdir" 2>/dev/null) || return 1
  command -v ldconfig >/dev/null 2>&1 || return 1
  # -N -X: list the directories without touching the cache or the links.
  for d in $(ldconfig -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p'); do
    [ "$(readlink -f "$d")" = "$want" ] && return 0
  done
  return 1
}

if searched; then
  if [ "$(id -u)" = 0 ]; then
    echo "ldconfig    # $libdir is in the dynamic linker's search path"
    ldconfig
  else
    echo "reqivo: $libdir is in the dynamic linker's search path: run 'sudo ldconfig' to refresh its cache"
  fi
elif [ "$action" = install ]; then
  cat <<MSG
reqivo: $libdir is not in the dynamic linker's search path. Build with
  export PKG_CONFIG_PATH=$libdir/pkgconfig
  cc app.c \$(pkg-config --cflags --libs reqivo) -Wl,-rpath,\$(pkg-config --variable=libdir reqivo)
or run programs with LD_LIBRARY_PATH=$libdir
MSG
fi
