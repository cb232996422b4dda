# frozen_string_literal: true

module Reqivo
  # The gem's version; a test holds it equal to the header's version.
  VERSION = '0.1.0'
end
