import http from 'node:http';
import { fixedOf, proxyFixNode } from 'proxyfix/node';

const server = http.createServer(proxyFixNode((req, res) => {
  res.end(`${req.socket.remoteAddress} ${fixedOf(req)?.url}\n`);
}, { xFor: 1, xProto: 1 }));
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => console.log('listening'));
