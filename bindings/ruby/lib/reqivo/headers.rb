# frozen_string_literal: true

module Reqivo
  # Response header fields in received order, names as received. Lookup is
  # case-insensitive and repeated fields keep every value:
  #
  #   h['content-type']        # => "text/plain"  (values joined by ", ")
  #   h.get_all('Set-Cookie')  # => ["a=1", "b=2"]
  #   h.each { |name, value| } # every field, in order
  class Headers
    include Enumerable

    # `fields`: [[name, value], ...] as received, or an object whose
    # #header_fields returns them (read on first use).
    def initialize(fields)
      @source = fields
      @fields = nil
      @index = nil
    end

    # All values of `name` joined by ", " (RFC 9110 §5.3), or nil. Use
    # #get_all for Set-Cookie, whose values cannot be joined.
    def [](name)
      values = index[name.to_s.downcase]
      return nil unless values

      values.size == 1 ? values[0] : values.join(', ')
    end

    # Like #[], but raises KeyError (or returns the default/block) if absent.
    def fetch(name, *default, &block)
      value = self[name]
      return value unless value.nil?
      return yield(name) if block
      return default[0] unless default.empty?

      raise KeyError.new("header not found: #{name}", receiver: self, key: name)
    end

    # Every value of `name`, in received order ([] if none).
    def get_all(name)
      index.fetch(name.to_s.downcase, [])
    end

    def key?(name)
      index.key?(name.to_s.downcase)
    end
    alias include? key?
    alias has_key? key?

    # Yields [name, value] for every field, in received order.
    def each(&block)
      return enum_for(:each) { size } unless block

      fields.each(&block)
      self
    end

    # Field names as received, in order, without repeats.
    def keys
      fields.map(&:first).uniq(&:downcase)
    end

    def size
      fields.size
    end
    alias length size

    def empty?
      fields.empty?
    end

    # {lowercase name => joined values}.
    def to_h
      index.transform_values { |v| v.size == 1 ? v[0] : v.join(', ') }
    end

    # The fields as [[name, value], ...].
    def to_a
      fields.dup
    end

    def inspect
      "#<Reqivo::Headers #{fields.map { |n, v| "#{n}: #{v}" }.inspect}>"
    end

    private

    def fields
      @fields ||= (@source.respond_to?(:header_fields) ? @source.header_fields : @source).freeze
    end

    # {lowercase name => [values]}; a benign race may build it twice.
    def index
      @index ||= begin
        idx = {}
        fields.each { |name, value| (idx[name.downcase] ||= []) << value }
        idx.each_value(&:freeze)
        idx.freeze
      end
    end
  end
end
