# perl_client.pl — Perl's HTTP::Tiny (core Perl) as a client, for the
# compatibility matrix:
#
#     perl perl_client.pl PORT
#
# GET /ok, POST /echo-body, GET /missing on http://127.0.0.1:PORT, one
# keep-alive connection (HTTP::Tiny's default); prints "<status> <body>"
# per request.
use strict;
use warnings;
use HTTP::Tiny;

my $port = $ARGV[0] or die "usage: perl_client.pl PORT\n";
my $base = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 10, proxy => undef, http_proxy => undef, no_proxy => "*");
for my $req (["GET", "/ok"], ["POST", "/echo-body", "hello from perl"], ["GET", "/missing"]) {
    my ($method, $path, $body) = @$req;
    my $r = $http->request($method, $base . $path, defined $body ? {content => $body} : {});
    print "$r->{status} $r->{content}\n";
}
