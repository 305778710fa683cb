# ruby_client.rb — Ruby net/http as a keep-alive client, for the integration tests.
#
#     ruby ruby_client.rb PORT
#
# On one Net::HTTP session to 127.0.0.1:PORT: GET /ok, POST /echo-body,
# GET /missing; prints "<status> <body>" per request.
require 'net/http'

port = Integer(ARGV.fetch(0))
Net::HTTP.start('127.0.0.1', port, open_timeout: 10, read_timeout: 10) do |http|
  [Net::HTTP::Get.new('/ok'),
   Net::HTTP::Post.new('/echo-body', 'Content-Type' => 'text/plain').tap { |r| r.body = 'hello from ruby' },
   Net::HTTP::Get.new('/missing')].each do |req|
    res = http.request(req)
    $stdout.write("#{res.code} #{res.body}\n")
  end
end
