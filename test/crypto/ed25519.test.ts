import t from 'tap';
import crypto from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Signer, generateSigningKey, publicKeyFromSeed, sign, verify } from '../../src/crypto/ed25519.js';

// RFC 8032 section 7.1, TEST 1 and TEST 2.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

t.test('RFC 8032 vectors', async (t) => {
  for (const v of RFC8032) {
    const seed = Buffer.from(v.seed, 'hex');
    t.equal(Buffer.from(publicKeyFromSeed(seed)).toString('hex'), v.pub);
    t.equal(Buffer.from(sign(seed, Buffer.from(v.msg, 'hex'))).toString('hex'), v.sig);
    t.ok(verify(Buffer.from(v.pub, 'hex'), Buffer.from(v.msg, 'hex'), Buffer.from(v.sig, 'hex')));
  }
});

t.test('node:crypto and noble agree on random keys and messages', async (t) => {
  for (let i = 0; i < 50; i++) {
    const k = generateSigningKey();
    const msg = crypto.randomBytes(i * 7);
    t.equal(Buffer.from(k.publicKey).toString('hex'), Buffer.from(ed25519.getPublicKey(k.seed)).toString('hex'));
    const s = new Signer(k.seed).sign(msg);
    t.equal(Buffer.from(s).toString('hex'), Buffer.from(ed25519.sign(msg, k.seed)).toString('hex'));
    const flipped = Buffer.from(s);
    flipped[i % 64]! ^= 1;
    t.notOk(verify(k.publicKey, msg, flipped));
  }
});
