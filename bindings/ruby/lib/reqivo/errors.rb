# frozen_string_literal: true

require_relative 'codes'

module Reqivo
  # The generated code table by name ("REQIVO_ERR_TIMEOUT_READ" => Code).
  CODES_BY_NAME = CODES.values.to_h { |c| [c.name, c] }.freeze

  # Base of every exception the gem raises. Those that come from the
  # library carry its result code (`code`, e.g. 3002), the code's `name`
  # ("REQIVO_ERR_TIMEOUT_READ"), its class base (`code_class`, 3000) and
  # the errno behind it (`os_error`, 0 when none); `message` is the
  # library's message.
  class Error < StandardError
    attr_reader :code, :name, :code_class, :os_error

    def initialize(message = nil, code: nil, name: nil, code_class: nil, os_error: 0)
      super(message)
      @code = code
      @name = name
      @code_class = code_class
      @os_error = os_error
    end

    # The exception for a library result code (table generated from the
    # header; a code this gem has never heard of is still named and
    # classed by the library itself).
    def self.for_code(code, message, os_error = 0)
      if (info = CODES[code])
        name = info.name
        klass = info.klass
        type = info.error_type
      else
        name = Native.reqivo_code_name(code)
        klass = Native.reqivo_code_class(code)
        type = CLASS_ERROR_TYPES.fetch(klass, :Error)
      end
      Reqivo.const_get(type, false).new(message.to_s.empty? ? name : message,
                                        code: code, name: name, code_class: klass, os_error: os_error)
    end

    # The exception for a filled reqivo_error struct.
    def self.from_native(err)
      msg = err[:message].to_s.force_encoding(Encoding::UTF_8).scrub
      for_code(err[:code], msg, err[:os_error])
    end

    def inspect
      name ? "#<#{self.class}: #{message} (#{name})>" : super
    end
  end

  # Bad input from the caller (1000 class): invalid URL, method, header,
  # configuration. Nothing was sent.
  class UsageError < Error; end

  # A handle (Session, Stream, Pool) was used after #close.
  class ClosedError < UsageError; end

  # A request failed after it was accepted (the Python Reqivo's RequestError).
  class RequestError < Error; end

  # DNS, refused or reset connections, other socket errors (2000 class).
  class NetworkError < RequestError; end

  # The proxy refused the CONNECT tunnel of an https request (its status,
  # e.g. 407 when it wants credentials, is in the message).
  class ProxyError < NetworkError; end

  # TLS handshake and verification failures (2100 class).
  class TlsError < NetworkError; end

  # A timeout of the library fired (3000 class).
  class TimeoutError < RequestError; end
  class ConnectTimeout < TimeoutError; end
  class ReadTimeout < TimeoutError; end
  class WriteTimeout < TimeoutError; end
  class TotalTimeout < TimeoutError; end
  class PoolTimeout < TimeoutError; end

  # The response broke HTTP/1.1 or a configured limit (4000 class).
  class ProtocolError < RequestError; end

  # The server sent something that is not a valid HTTP/1.1 response.
  class InvalidResponseError < ProtocolError; end

  # Redirect policy failures (5000 class).
  class RedirectError < RequestError; end
  class TooManyRedirects < RedirectError; end
  class RedirectLoopError < RedirectError; end

  # The request was cancelled through an explicit Reqivo::Cancel (6000 class).
  class Cancelled < Error; end

  # A callback asked the library to stop.
  class CallbackError < Cancelled; end

  # WebSocket failures (7000 class).
  class WebSocketError < Error; end

  # The server refused the WebSocket handshake (not 101: #status and
  # #response, head and body, tell its answer; nil for a wrong 101).
  class WebSocketHandshakeError < WebSocketError
    attr_accessor :response

    def status
      response&.status
    end
  end

  # The WebSocket is closed (close handshake done, #close called, or an
  # earlier failure).
  class WebSocketClosed < WebSocketError; end

  # The server broke RFC 6455, or sent text that is not UTF-8.
  class WebSocketProtocolError < WebSocketError; end

  # A frame or message from the server is over max_frame:/max_message:.
  class WebSocketMessageTooBig < WebSocketError; end

  # A ping got no pong within pong_timeout:.
  class WebSocketPingTimeout < WebSocketError; end

  # A bug inside the library, caught at its boundary (9000 class).
  class InternalError < Error; end
end
