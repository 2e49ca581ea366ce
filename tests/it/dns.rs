//! A tiny authoritative DNS server for tests, on loopback (UDP and TCP on the same port).
//!
//! It answers `TXT`, `A`, `AAAA`, `CNAME`, `MX` and `TLSA` queries for the records it was
//! given (names case-insensitive, long TXT values split into 255-byte character-strings,
//! a CNAME followed one step to the target's records), `NODATA` for a name without the
//! type asked, and `NXDOMAIN` for everything else. Malformed queries are dropped (UDP) or
//! end the connection (TCP); nothing on the query path panics.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

const TYPE_TXT: u16 = 16;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_MX: u16 = 15;
const TYPE_AAAA: u16 = 28;
const TYPE_TLSA: u16 = 52;
const CLASS_IN: u16 = 1;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_FORMERR: u16 = 1;
const RCODE_NOTIMP: u16 = 4;

/// One resource record's data.
#[derive(Debug, Clone)]
pub enum Data {
    Txt(String),
    A(Ipv4Addr),
    #[allow(dead_code)] // served like A; no scenario needs an IPv6 host yet
    Aaaa(Ipv6Addr),
    Cname(String),
    Mx(u16, String),
    /// Usage, selector, matching type, association data.
    Tlsa(u8, u8, u8, Vec<u8>),
}

impl Data {
    fn rtype(&self) -> u16 {
        match self {
            Data::Txt(_) => TYPE_TXT,
            Data::A(_) => TYPE_A,
            Data::Aaaa(_) => TYPE_AAAA,
            Data::Cname(_) => TYPE_CNAME,
            Data::Mx(..) => TYPE_MX,
            Data::Tlsa(..) => TYPE_TLSA,
        }
    }

    fn rdata(&self) -> Option<Vec<u8>> {
        let mut rdata = Vec::new();
        match self {
            Data::Txt(value) => {
                let bytes = value.as_bytes();
                if bytes.is_empty() {
                    rdata.push(0);
                }
                for chunk in bytes.chunks(255) {
                    rdata.push(u8::try_from(chunk.len()).ok()?);
                    rdata.extend_from_slice(chunk);
                }
            }
            Data::A(ip) => rdata.extend_from_slice(&ip.octets()),
            Data::Aaaa(ip) => rdata.extend_from_slice(&ip.octets()),
            Data::Cname(target) => rdata.extend(encode_name(target)?),
            Data::Mx(preference, host) => {
                rdata.extend_from_slice(&preference.to_be_bytes());
                rdata.extend(encode_name(host)?);
            }
            Data::Tlsa(usage, selector, matching, data) => {
                rdata.extend_from_slice(&[*usage, *selector, *matching]);
                rdata.extend_from_slice(data);
            }
        }
        Some(rdata)
    }
}

/// A name's record.
pub type Record = (String, Data);

/// The zone served; [`TestDns::set_zone`] swaps it while the server runs.
type Records = Arc<std::sync::RwLock<Vec<Record>>>;

/// A running test name server; stops when dropped.
pub struct TestDns {
    /// Where it listens, on UDP and TCP.
    pub addr: SocketAddr,
    records: Records,
    tasks: Vec<JoinHandle<()>>,
}

impl TestDns {
    /// Starts serving `records` (name, TXT value) on 127.0.0.1 at a free port.
    pub async fn start(records: Vec<(String, String)>) -> TestDns {
        TestDns::start_zone(
            records
                .into_iter()
                .map(|(name, value)| (name, Data::Txt(value)))
                .collect(),
        )
        .await
    }

    /// Starts serving `records` of any supported type.
    pub async fn start_zone(records: Vec<Record>) -> TestDns {
        let records: Records = Arc::new(std::sync::RwLock::new(normalize_zone(records)));
        // Bind UDP first, then TCP on the same port (retry if the TCP port is taken).
        for _ in 0..20 {
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let addr = udp.local_addr().expect("udp addr");
            let Ok(tcp) = TcpListener::bind(addr).await else {
                continue;
            };
            let udp_task = tokio::spawn(serve_udp(udp, records.clone()));
            let tcp_task = tokio::spawn(serve_tcp(tcp, records.clone()));
            return TestDns {
                addr,
                records,
                tasks: vec![udp_task, tcp_task],
            };
        }
        panic!("could not bind UDP and TCP on the same loopback port");
    }

    /// Serves `records` from now on instead of the zone before.
    pub fn set_zone(&self, records: Vec<Record>) {
        *self.records.write().unwrap() = normalize_zone(records);
    }
}

fn normalize_zone(records: Vec<Record>) -> Vec<Record> {
    records
        .into_iter()
        .map(|(name, data)| (normalize(&name), data))
        .collect()
}

impl Drop for TestDns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn serve_udp(socket: UdpSocket, records: Records) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(mut reply) = answer(&buf[..len], &records.read().unwrap()) else {
            continue;
        };
        if reply.len() > 512 {
            // No EDNS support here: truncate and let the client retry over TCP.
            reply = truncated(&reply);
        }
        let _ = socket.send_to(&reply, peer).await;
    }
}

async fn serve_tcp(listener: TcpListener, records: Records) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_conn(stream, records.clone()));
    }
}

async fn serve_tcp_conn(mut stream: TcpStream, records: Records) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(reply) = answer(&query, &records.read().unwrap()) else {
            return;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = reply_len.to_be_bytes().to_vec();
        out.extend_from_slice(&reply);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Header and question only, with TC set.
fn truncated(reply: &[u8]) -> Vec<u8> {
    let qend = question_end(reply).unwrap_or(12.min(reply.len()));
    let mut out = reply[..qend].to_vec();
    if out.len() >= 12 {
        out[2] |= 0x02; // TC
        out[6..12].fill(0); // AN, NS, AR counts
    }
    out
}

fn question_end(msg: &[u8]) -> Option<usize> {
    let mut pos = 12;
    loop {
        let len = usize::from(*msg.get(pos)?);
        if len == 0 {
            return Some(pos + 1 + 4).filter(|&end| end <= msg.len());
        }
        if len & 0xC0 != 0 {
            return None;
        }
        pos += 1 + len;
    }
}

/// Builds the reply to one query, or `None` if it is too malformed to answer.
fn answer(query: &[u8], records: &[Record]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let id = &query[0..2];
    let flags = u16::from_be_bytes([query[2], query[3]]);
    if flags & 0x8000 != 0 {
        return None; // a response, not a query
    }
    let opcode = (flags >> 11) & 0x0F;
    let rd = flags & 0x0100;
    let qdcount = u16::from_be_bytes([query[4], query[5]]);

    let header = |rcode: u16, qd: u16, an: u16| {
        let mut h = Vec::with_capacity(12);
        h.extend_from_slice(id);
        // QR, opcode, AA, RD echoed, rcode
        let f = 0x8000 | (opcode << 11) | 0x0400 | rd | rcode;
        h.extend_from_slice(&f.to_be_bytes());
        h.extend_from_slice(&qd.to_be_bytes());
        h.extend_from_slice(&an.to_be_bytes());
        h.extend_from_slice(&0u16.to_be_bytes());
        h.extend_from_slice(&0u16.to_be_bytes());
        h
    };
    if opcode != 0 {
        return Some(header(RCODE_NOTIMP, 0, 0));
    }
    if qdcount != 1 {
        return Some(header(RCODE_FORMERR, 0, 0));
    }
    let Some(qend) = question_end(query) else {
        return Some(header(RCODE_FORMERR, 0, 0));
    };
    let question = &query[12..qend];
    let name = decode_name(&question[..question.len() - 4])?;
    let qtype = u16::from_be_bytes([question[question.len() - 4], question[question.len() - 3]]);
    let qclass = u16::from_be_bytes([question[question.len() - 2], question[question.len() - 1]]);

    let at = |n: &str| -> Vec<&Data> {
        records
            .iter()
            .filter(|(name, _)| name == n)
            .map(|(_, d)| d)
            .collect()
    };
    let here = at(&name);
    if here.is_empty() {
        let mut out = header(RCODE_NXDOMAIN, 1, 0);
        out.extend_from_slice(question);
        return Some(out);
    }
    // (owner, data) of every answer record.
    let mut answers: Vec<(String, &Data)> = Vec::new();
    if qclass == CLASS_IN {
        answers.extend(
            here.iter()
                .filter(|d| d.rtype() == qtype)
                .map(|d| (name.clone(), *d)),
        );
        if answers.is_empty() && qtype != TYPE_CNAME {
            // A CNAME alone at the name: it, then the target's records of the type.
            if let Some(Data::Cname(target)) = here.iter().find(|d| d.rtype() == TYPE_CNAME) {
                answers.push((name.clone(), here.iter().find(|d| d.rtype() == TYPE_CNAME)?));
                let target = normalize(target);
                answers.extend(
                    at(&target)
                        .into_iter()
                        .filter(|d| d.rtype() == qtype)
                        .map(|d| (target.clone(), d)),
                );
            }
        }
    }
    let an = u16::try_from(answers.len()).ok()?;
    let mut out = header(0, 1, an);
    out.extend_from_slice(question);
    for (owner, data) in answers {
        let rdata = data.rdata()?;
        out.extend(encode_name(&owner)?);
        out.extend_from_slice(&data.rtype().to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes()); // TTL
        out.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

/// A dotted name in uncompressed wire form.
fn encode_name(name: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for label in normalize(name).split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).ok().filter(|&n| n < 64)?);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Some(out)
}

/// Uncompressed wire name to a lowercase dotted name without the trailing dot.
fn decode_name(wire: &[u8]) -> Option<String> {
    let mut labels = Vec::new();
    let mut pos = 0;
    loop {
        let len = usize::from(*wire.get(pos)?);
        if len == 0 {
            break;
        }
        let label = wire.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += 1 + len;
    }
    Some(labels.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    #[test]
    fn answers_txt_split_into_character_strings() {
        let value = "x".repeat(300);
        let records = vec![("a.example".to_string(), Data::Txt(value))];
        let reply = answer(&query("A.Example", TYPE_TXT), &records).unwrap();
        assert_eq!(&reply[0..2], &[0x12, 0x34]);
        assert_eq!(reply[3] & 0x0F, 0); // NOERROR
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1);
        let q = query("A.Example", TYPE_TXT);
        let rr = &reply[q.len()..];
        let owner = encode_name("a.example").unwrap();
        assert_eq!(&rr[..owner.len()], owner.as_slice());
        let rr = &rr[owner.len() - 2..];
        let rdlen = usize::from(u16::from_be_bytes([rr[10], rr[11]]));
        assert_eq!(rdlen, 302);
        assert_eq!(rr[12], 255);
        assert_eq!(rr[12 + 256], 45);
    }

    #[test]
    fn nxdomain_and_garbage() {
        let records = vec![("a.example".to_string(), Data::Txt("v".to_string()))];
        let reply = answer(&query("b.example", TYPE_TXT), &records).unwrap();
        assert_eq!(reply[3] & 0x0F, 3);
        assert!(answer(&[1, 2, 3], &records).is_none());
        let mut bad = query("a.example", TYPE_TXT);
        bad.truncate(15);
        let reply = answer(&bad, &records).unwrap();
        assert_eq!(reply[3] & 0x0F, 1);
        let reply = answer(&[0u8, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0], &records).unwrap();
        assert_eq!(reply[3] & 0x0F, 1);
    }
}
