// Benchmark helper: the least any function between a client and S3 can do, run by bench:load-raw as a floor. An HTTP
// server that PUTs each request's body unchanged, under its ce-id, with the functions' own S3 client: no parse, no
// validation, no HEAD (with HEAD=1: a HEAD first, as load-raw's check for an object already there). GET / answers
// 200 (ready). Env: S3_ENDPOINT, BUCKET, PORT, AWS_ACCESS_KEY_ID/SECRET, HEAD.
import { createServer } from 'node:http';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../shared/lake/s3.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const bucket = env('BUCKET');
const headFirst = process.env['HEAD'] === '1';
const s3 = s3Client({
  endpoint: env('S3_ENDPOINT'),
  region: 'us-east-1',
  accessKeyId: env('AWS_ACCESS_KEY_ID'),
  secretAccessKey: env('AWS_SECRET_ACCESS_KEY'),
  bucket,
});

createServer((req, res) => {
  if (req.method !== 'POST') return void res.writeHead(200).end('ok');
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const key = `forwarded/${String(req.headers['ce-id'] ?? '')}.json`;
    const head = headFirst
      ? s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined)
      : Promise.resolve();
    head
      .then(() =>
        s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: Buffer.concat(chunks),
            ContentType: 'application/json',
          }),
        ),
      )
      .then(
        () => res.writeHead(204).end(),
        (err: Error) => res.writeHead(503).end(err.message),
      );
  });
}).listen(Number(env('PORT')), '127.0.0.1');
