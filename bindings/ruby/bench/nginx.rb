# frozen_string_literal: true

require 'fileutils'
require 'socket'
require 'tmpdir'

# Starts nginx on 127.0.0.1 serving `files` ({name => body}) from a temp
# dir for the duration of the block; yields the base URL. For the
# benchmarks only (not the tests).
module BenchNginx
  module_function

  def run(files)
    nginx = %w[/usr/sbin/nginx /usr/local/sbin/nginx /usr/bin/nginx].find { |p| File.executable?(p) }
    abort 'bench: nginx is not installed (apt-get install nginx-light)' unless nginx

    dir = Dir.mktmpdir('reqivo-bench')
    Dir.mkdir(File.join(dir, 'www'))
    files.each { |name, body| File.binwrite(File.join(dir, 'www', name), body) }
    port = TCPServer.open('127.0.0.1', 0) { |s| s.addr[1] }
    File.write(File.join(dir, 'nginx.conf'), <<~CONF)
      daemon off; master_process off; worker_processes 1; pid #{dir}/nginx.pid; error_log #{dir}/error.log;
      events { worker_connections 64; }
      http { access_log off; keepalive_requests 10000000; keepalive_timeout 60s;
        client_body_temp_path #{dir}/tmp; proxy_temp_path #{dir}/tmp; fastcgi_temp_path #{dir}/tmp;
        uwsgi_temp_path #{dir}/tmp; scgi_temp_path #{dir}/tmp;
        server { listen 127.0.0.1:#{port}; root #{dir}/www; } }
    CONF
    pid = spawn(nginx, '-p', dir, '-c', File.join(dir, 'nginx.conf'), out: File::NULL)
    begin
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
      begin
        TCPSocket.new('127.0.0.1', port).close
      rescue SystemCallError
        raise 'nginx did not start within 10 s' if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.02
        retry
      end
      yield "http://127.0.0.1:#{port}"
    ensure
      Process.kill('TERM', pid)
      Process.wait(pid)
      FileUtils.rm_rf(dir)
    end
  end

  def timed
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    yield
    Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
  end
end
