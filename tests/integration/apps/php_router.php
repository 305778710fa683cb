<?php
// php_router.php — the router script of the matrix's `php -S` row:
//
//     php -S 127.0.0.1:PORT tests/integration/apps/php_router.php
//
// GET  /call?to=PORT&path=/x  GET http://127.0.0.1:PORT/x with PHP's own
//                             http:// stream wrapper (file_get_contents, not
//                             curl); answers with its status and its body
// POST /echo-body             200, the request body back
// anything else               404 "no such route"
$url = parse_url($_SERVER['REQUEST_URI']);
parse_str($url['query'] ?? '', $q);
if ($url['path'] === '/call') {
    $ctx = stream_context_create(['http' => ['ignore_errors' => true, 'timeout' => 10,
                                             'protocol_version' => 1.1,
                                             'header' => "Connection: close\r\n"]]);
    $body = file_get_contents('http://127.0.0.1:' . intval($q['to']) . ($q['path'] ?? '/ok'),
                              false, $ctx);
    preg_match('#^HTTP/\S+ (\d+)#', $http_response_header[0], $m);
    http_response_code(intval($m[1]));
    header('Content-Type: text/plain');
    echo $body;
} elseif ($url['path'] === '/echo-body' && $_SERVER['REQUEST_METHOD'] === 'POST') {
    header('Content-Type: application/octet-stream');
    echo file_get_contents('php://input');
} else {
    http_response_code(404);
    echo "no such route";
}
