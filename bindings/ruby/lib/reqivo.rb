# frozen_string_literal: true

# reqivo: an HTTP/1.1 client (libreqivo, a Rust library with a C ABI) for
# Ruby, on the ffi gem.
#
#   require 'reqivo'
#   r = Reqivo.get('http://127.0.0.1:8080/hello')
#   r.status, r.headers['content-type'], r.text
#
#   s = Reqivo::Session.new(base_url: 'http://127.0.0.1:8080/', timeout: 5)
#   s.post('items', json: { name: 'a' }).json
#
# The library is found through $REQIVO_LIB, the copy the gem built when it
# was installed, `pkg-config --variable=libdir reqivo`, the dynamic linker
# (libreqivo.so.0), and in a checkout its target/release: see
# reqivo/library.rb.

require_relative 'reqivo/version'
require_relative 'reqivo/native'
require_relative 'reqivo/codes'
require_relative 'reqivo/errors'
require_relative 'reqivo/session'

module Reqivo
  @default_lock = Mutex.new

  class << self
    # The library's version string (reqivo_version()).
    def library_version
      Native.reqivo_version
    end

    # The session behind the module conveniences: created on first use,
    # shared by all threads (keep-alive across calls), made anew in a
    # forked child.
    def default_session
      @default_lock.synchronize do
        if @default_session.nil? || @default_pid != Process.pid
          @default_session = Session.new
          @default_pid = Process.pid
        end
        @default_session
      end
    end

    # Reqivo.get(url, params:, headers:, timeout:, ...) and friends: one
    # request through the default session. See Session#request.
    Session::METHODS.each do |m|
      define_method(m) do |url, **opts|
        default_session.public_send(m, url, **opts)
      end
    end

    def request(method, url, **opts)
      default_session.request(method, url, **opts)
    end

    def stream(method, url, **opts, &block)
      default_session.stream(method, url, **opts, &block)
    end

    # A parallel batch through the default session (whose pool runs at most
    # 10 connections per host at once). See Session#parallel.
    def parallel(**opts, &block)
      default_session.parallel(**opts, &block)
    end

    # Checks that the loaded library is compatible with the header the
    # code table was generated from: same major, minor at least as new.
    def check_library_version!
      lib = library_version.split('.').map(&:to_i)
      hdr = HEADER_VERSION.split('.').map(&:to_i)
      return if lib[0] == hdr[0] && (lib[1] > hdr[1] || (lib[1] == hdr[1] && lib[2] >= hdr[2]))

      raise LoadError, "libreqivo #{library_version} is older than or incompatible with this binding (header #{HEADER_VERSION})"
    end
  end

  check_library_version!
end
