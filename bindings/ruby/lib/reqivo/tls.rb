# frozen_string_literal: true

require_relative 'handle'

module Reqivo
  # TLS settings for https URLs (rustls inside libreqivo).
  #
  #   cfg = Reqivo::TLS::Config.new(ca_file: 'ca.pem',
  #                                 client_cert: 'client.pem', client_key: 'client.key',
  #                                 min_version: :tls1_3)
  #   a = Reqivo::Session.new(tls: cfg)     # sessions sharing a config share
  #   b = Reqivo::Session.new(tls: cfg)     # its TLS session cache
  #   Reqivo::Session.new(tls: { ca_pem: File.read('ca.pem') })  # one-off
  module TLS
    # An immutable TLS configuration (reqivo_tls_config), made through the
    # library's builder. Thread-safe; any number of sessions may use it, and
    # each keeps its own reference, so #close (or the GC) only gives up this
    # one.
    class Config
      KEYS = %i[ca_file ca_pem ca_path system_roots client_cert client_key min_version pins verify].freeze

      # A Config for Session.new's tls: option: a Config as is, or one made
      # from a hash (see #initialize). Returns [config, made_here].
      def self.coerce(spec)
        case spec
        when Config then [spec, false]
        when Hash then [new(**spec), true]
        else raise ArgumentError, "tls must be a Reqivo::TLS::Config or a hash of #{KEYS.join('/')}, got #{spec.class}"
        end
      end

      # ca_file:      a PEM file of trusted roots (or an Array of files);
      # ca_pem:       PEM text of trusted roots, or objects with #to_pem
      #               (OpenSSL::X509::Certificate), or an Array of either;
      # ca_path:      a directory: every file in it holding a PEM certificate;
      # system_roots: also trust the system's roots (the Mozilla set when the
      #               system has none). Default: true without ca_*, false
      #               with (like curl --cacert and Net::HTTP's ca_file);
      # client_cert:, client_key: mutual TLS: PEM text, a file name, or an
      #               object with #to_pem (OpenSSL::X509::Certificate,
      #               OpenSSL::PKey); the certificate may be a chain, leaf
      #               first; the key RSA, ECDSA or Ed25519, unencrypted;
      # min_version:  :tls1_2 (the default) or :tls1_3 (also :TLS1_3,
      #               "TLSv1_3", "TLSv1.3" or the wire number); 1.3 is
      #               always preferred;
      # pins:         base64 SHA-256 of the server's SubjectPublicKeyInfo,
      #               optionally "sha256//"-prefixed (curl's form); one of
      #               them must match the server's key;
      # verify:       false accepts any server certificate for any name
      #               (pins are still checked). Only for tests: it makes the
      #               connection open to interception.
      #
      # Raises ArgumentError for bad options, Reqivo::UsageError
      # (REQIVO_ERR_INVALID_CONFIG, with the library's message) for PEM,
      # pins or keys the library refuses, and the system's error for a file
      # that cannot be read.
      def initialize(ca_file: nil, ca_pem: nil, ca_path: nil, system_roots: nil, client_cert: nil,
                     client_key: nil, min_version: nil, pins: nil, verify: true)
        roots = Array(ca_pem).map { |c| pem_of(c, 'ca_pem', path: false) }
        roots.concat(Array(ca_file).map { |f| read_file(f, 'ca_file') })
        roots.concat(pem_files_in(ca_path)) if ca_path
        system_roots = roots.empty? if system_roots.nil?
        raise ArgumentError, "system_roots must be true or false, got #{system_roots.inspect}" unless [true, false].include?(system_roots)
        raise ArgumentError, 'client_cert and client_key go together' if client_cert.nil? != client_key.nil?

        cert = client_cert && pem_of(client_cert, 'client_cert')
        key = client_key && pem_of(client_key, 'client_key')
        version = min_version && TLS.version_number(min_version)
        pins = Array(pins).map do |p|
          raise ArgumentError, "pins must be Strings, got #{p.class}" unless p.is_a?(String)

          p
        end
        raise ArgumentError, "verify must be true or false, got #{verify.inspect}" unless [true, false].include?(verify)

        @handle = build(roots, system_roots, cert, key, version, pins, verify)
        @description = { roots: roots.size, system_roots: system_roots, client_cert: !cert.nil?,
                         min_version: min_version, pins: pins.size, verify: verify }.freeze
      end

      # Gives up this reference (sessions using the config keep theirs).
      # Idempotent; using a closed Config raises Reqivo::ClosedError.
      def close
        @handle.close
      end

      def closed?
        @handle.closed?
      end

      # Runs the block with the config's pointer (kept alive meanwhile).
      def use(&block)
        @handle.use(&block)
      end

      def inspect
        "#<Reqivo::TLS::Config #{@description.map { |k, v| "#{k}=#{v.inspect}" }.join(' ')}#{' closed' if closed?}>"
      end

      private

      # The builder is created, filled and consumed (build always consumes
      # it) with interrupts deferred, so Thread#raise cannot leak it; none of
      # these calls waits on the network.
      def build(roots, system_roots, cert, key, version, pins, verify)
        Thread.handle_interrupt(Object => :never) do
          err = Native::Error.new
          b = Native.reqivo_tls_config_builder_new
          raise NoMemoryError, 'reqivo_tls_config_builder_new returned NULL' if b.null?

          begin
            roots.each { |pem| check(Native.reqivo_tls_config_builder_add_root_pem(b, pem, pem.bytesize, err), err) }
            check_code(Native.reqivo_tls_config_builder_use_system_roots(b, system_roots))
            if cert
              check(Native.reqivo_tls_config_builder_set_client_auth_pem(b, cert, cert.bytesize, key, key.bytesize, err), err)
            end
            check(Native.reqivo_tls_config_builder_set_min_version(b, version, err), err) if version
            pins.each { |p| check(Native.reqivo_tls_config_builder_add_spki_pin_sha256(b, p, p.bytesize, err), err) }
            check_code(Native.reqivo_tls_config_builder_dangerous_disable_verification(b)) unless verify
            ptr = Native.reqivo_tls_config_builder_build(b, err)
            b = nil # consumed, on failure too
            raise Error.from_native(err) if ptr.null?

            Handle.new(ptr, Native::FREE[:tls_config], 'TLS config')
          ensure
            Native.reqivo_tls_config_builder_free(b) if b
          end
        end
      end

      # PEM text from an object with #to_pem, a String of PEM, or (when
      # `path`) a file name. Without `path` any String is passed on as is
      # and the library judges it.
      def pem_of(value, what, path: true)
        return value.to_pem.to_s if !value.is_a?(String) && value.respond_to?(:to_pem)
        return value if value.is_a?(String) && (!path || value.include?('-----BEGIN '))
        return read_file(value, what) if path && (value.is_a?(String) || value.respond_to?(:to_path))

        raise ArgumentError, "#{what} must be PEM text#{', a file name' if path} or respond to #to_pem, got #{value.class}"
      end

      def read_file(name, what)
        raise ArgumentError, "#{what} must be a file name, got #{name.class}" unless name.is_a?(String) || name.respond_to?(:to_path)

        File.binread(name)
      end

      # The PEM text of every regular file in `dir` that holds a certificate
      # (OpenSSL's c_rehash directories hold symlinks to them; each
      # certificate is added once).
      def pem_files_in(dir)
        raise ArgumentError, "ca_path #{dir} is not a directory" unless File.directory?(dir)

        Dir.children(dir).sort.filter_map do |name|
          path = File.join(dir, name)
          next unless File.file?(path)

          text = File.binread(path)
          text if text.include?('-----BEGIN CERTIFICATE-----')
        end.uniq
      end

      def check(code, err)
        raise Error.from_native(err) unless code.zero?
      end

      def check_code(code)
        raise Error.for_code(code, Native.reqivo_code_name(code)) unless code.zero?
      end
    end

    module_function

    # The REQIVO_TLS_VERSION_* number for :tls1_2 / :tls1_3 (also :TLS1_2,
    # "TLSv1_2", "TLSv1.2" as Net::HTTP and Faraday write them, or the wire
    # number itself, which OpenSSL::SSL::TLS1_2_VERSION is).
    def version_number(v)
      return v if v.is_a?(Integer) && TLS_VERSIONS.value?(v)

      key = v.is_a?(Symbol) || v.is_a?(String) ? v.to_s.downcase.delete('v').tr('.', '_').to_sym : nil
      TLS_VERSIONS.fetch(key) do
        raise ArgumentError, "min_version must be one of #{TLS_VERSIONS.keys.map(&:inspect).join(', ')}, got #{v.inspect}"
      end
    end
  end
end
