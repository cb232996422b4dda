# frozen_string_literal: true

require 'pathname'

module Reqivo
  # multipart/form-data bodies (RFC 7578) for the multipart: option of
  # Session#request and Session#parallel:
  #
  #   session.post('upload', multipart: { 'title' => 'x',
  #                                       'file' => File.open('a.png'),
  #                                       'doc' => Reqivo::Multipart::File.new('b.pdf', content_type: 'application/pdf') })
  #
  # A value that is a File, a Pathname, a Multipart::File, or an object
  # with #local_path (Faraday::UploadIO) becomes a file part: the library
  # reads the file from its path while it sends, a piece at a time (the
  # File object itself is not read), with the last component of the path
  # as its filename and application/octet-stream unless a type is given.
  # An Array adds one part per element under the same name; anything else
  # is a field, sent as its #to_s. The library checks each file when the
  # request is built (Reqivo::UsageError for one missing or not a regular
  # file) and again when it is sent (Reqivo::NetworkError, code
  # REQIVO_ERR_IO, if its size changed). Names are escaped as browsers do
  # (", CR, LF as %22, %0D, %0A). A 307/308 redirect resends the form.
  module Multipart
    # A file part with an explicit content type.
    File = Struct.new(:path, :content_type) do
      def initialize(path, content_type: nil)
        super(path.to_s, content_type&.to_s)
      end
    end

    module_function

    # The parts of a multipart: Hash (or [[name, value]] Array) as
    # [name, path_or_value, content_type, file?]; ArgumentError for
    # anything else.
    def parts(form)
      unless form.is_a?(Hash) || form.is_a?(Array)
        raise ArgumentError, "multipart must be a Hash or an Array of [name, value], got #{form.class}"
      end

      form.flat_map do |name, value|
        (value.is_a?(Array) ? value : [value]).map { |v| part(name.to_s, v) }
      end
    end

    def part(name, value)
      case value
      when Multipart::File then [name, value.path, value.content_type, true]
      when ::File then [name, value.path, nil, true]
      when Pathname then [name, value.to_s, nil, true]
      else
        if value.respond_to?(:local_path) && !value.local_path.to_s.empty?
          type = value.respond_to?(:content_type) ? value.content_type : nil
          [name, value.local_path.to_s, type, true]
        elsif value.respond_to?(:read)
          # The library reads files from their paths; an IO without one
          # (a StringIO, a pipe) would be sent as its #to_s.
          raise ArgumentError, "multipart value for #{name.inspect} is an IO without a file path " \
                               "(#{value.class}); pass its contents as a String, or a File"
        else
          [name, value.to_s, nil, false]
        end
      end
    end

    # Sets the parts on the reqivo_request at ptr through a reqivo_multipart
    # freed at once (the request keeps its own reference). Raises
    # Reqivo::UsageError for what the library refuses.
    def attach(ptr, parts, err)
      mp = Native.reqivo_multipart_new
      raise NoMemoryError, 'reqivo_multipart_new returned NULL' if mp.null?

      begin
        parts.each do |name, value, type, file|
          code = if file
                   Native.reqivo_multipart_add_file(mp, name, name.bytesize, value, value.bytesize,
                                                    type, type.to_s.bytesize, err)
                 else
                   Native.reqivo_multipart_add_field(mp, name, name.bytesize, value, value.bytesize, err)
                 end
          raise Error.from_native(err) unless code.zero?
        end
        code = Native.reqivo_request_set_multipart(ptr, mp, err)
        raise Error.from_native(err) unless code.zero?
      ensure
        Native.reqivo_multipart_free(mp)
      end
    end
  end
end
