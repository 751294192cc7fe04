//! A 9P client that speaks as plan9port's lib9pclient does, for tests of
//! what plan9port's programs (9pfuse above all) see from our server:
//! msize 8192 asked, tags 0..256 multiplexed over one connection by many
//! callers at once, fid numbers handed out in chunks of 32 and reused
//! last-in first-out once their Tclunk is answered, reads capped at
//! msize - IOHDRSZ, directory reads at the fid's running offset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use colony_ns::ninep::{
    Fcall, IOHDRSZ, Message, NOFID, NOTAG, Qid, Rversion, Stat, Tattach, Tclunk, Topen, Tread,
    Tstat, Tversion, Twalk, read_frame,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::oneshot;

/// lib9pclient's Tversion msize (fsinit).
pub const MSIZE: u32 = 8192;
/// lib9pclient's tags: libmux's mintag..maxtag.
const TAGS: u16 = 256;
/// lib9pclient allocates fids this many at a time (CFidchunk).
const FID_CHUNK: u32 = 32;

type Waiters = Arc<Mutex<HashMap<u16, oneshot::Sender<Message>>>>;

/// Free fid numbers, as lib9pclient keeps them: a LIFO list refilled a
/// chunk at a time from the next unused number.
#[derive(Default)]
struct Fids {
    free: Vec<u32>,
    next: u32,
}

impl Fids {
    fn get(&mut self) -> u32 {
        if self.free.is_empty() {
            // Pushed in reverse so the chunk's first number comes out first.
            self.free.extend((self.next..self.next + FID_CHUNK).rev());
            self.next += FID_CHUNK;
        }
        self.free.pop().expect("refilled")
    }
}

/// One connection (lib9pclient's CFsys).
pub struct Fsys<S> {
    wr: tokio::sync::Mutex<WriteHalf<S>>,
    waiters: Waiters,
    tags: Mutex<Vec<u16>>,
    tag_free: tokio::sync::Semaphore,
    fids: Mutex<Fids>,
    msize: u32,
}

/// A fid (lib9pclient's CFid): its number, qid and running offset.
#[derive(Debug)]
pub struct CFid {
    /// The fid number on the wire.
    pub fid: u32,
    /// The qid the walk (or open) gave.
    pub qid: Qid,
    offset: Mutex<u64>,
}

/// What a request got back: its reply, or the server's Rerror text.
pub type Reply<T> = std::result::Result<T, String>;

impl<S: AsyncRead + AsyncWrite + Send + 'static> Fsys<S> {
    /// fsmount: Tversion (msize 8192) and Tattach of `uname`, aname "".
    pub async fn mount(stream: S, uname: &str) -> (Arc<Self>, CFid) {
        let (mut rd, wr) = tokio::io::split(stream);
        let waiters: Waiters = Arc::default();
        let w = waiters.clone();
        tokio::spawn(async move {
            while let Ok(Some(frame)) = read_frame(&mut rd, 1 << 20).await {
                let f = Fcall::decode(&frame).expect("server sent an undecodable reply");
                let waiter = w.lock().unwrap().remove(&f.tag);
                let waiter = waiter.unwrap_or_else(|| panic!("reply to unused tag {}", f.tag));
                let _ = waiter.send(f.msg);
            }
            // Connection gone: callers still waiting see their senders dropped.
            w.lock().unwrap().clear();
        });
        let mut fs = Fsys {
            wr: tokio::sync::Mutex::new(wr),
            waiters,
            tags: Mutex::new((0..TAGS).rev().collect()),
            tag_free: tokio::sync::Semaphore::new(TAGS as usize),
            fids: Mutex::default(),
            msize: MSIZE,
        };
        let version = Tversion {
            msize: MSIZE,
            version: "9P2000".into(),
        };
        let Message::Rversion(Rversion { msize, version }) = fs.call(NOTAG, version.into()).await
        else {
            panic!("Tversion refused");
        };
        assert_eq!(version, "9P2000");
        fs.msize = msize;
        let fs = Arc::new(fs);
        let fid = fs.fids.lock().unwrap().get();
        let attach = Tattach {
            fid,
            afid: NOFID,
            uname: uname.into(),
            aname: String::new(),
        };
        let qid = match fs.rpc(attach.into()).await {
            Ok(Message::Rattach(r)) => r.qid,
            other => panic!("Tattach: {other:?}"),
        };
        (fs, CFid::new(fid, qid))
    }

    async fn call(&self, tag: u16, msg: Message) -> Message {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap().insert(tag, tx);
        let bytes = Fcall::new(tag, msg).encode().expect("encodable request");
        self.wr.lock().await.write_all(&bytes).await.expect("send");
        rx.await
            .expect("connection closed while a request was outstanding")
    }

    /// One request and its reply, on a free tag (waiting for one, as
    /// libmux does, when all 256 are out).
    async fn rpc(&self, msg: Message) -> Reply<Message> {
        let _slot = self.tag_free.acquire().await.expect("semaphore open");
        let tag = self.tags.lock().unwrap().pop().expect("a tag per permit");
        let reply = self.call(tag, msg).await;
        self.tags.lock().unwrap().push(tag);
        match reply {
            Message::Rerror(e) => Err(e.ename),
            m => Ok(m),
        }
    }

    /// fswalk: a new fid for `name` under `fid` (`None`: a clone).
    pub async fn walk(&self, fid: &CFid, name: Option<&str>) -> Reply<CFid> {
        let newfid = self.fids.lock().unwrap().get();
        let walk = Twalk {
            fid: fid.fid,
            newfid,
            wnames: name.into_iter().map(|n| n.as_bytes().to_vec()).collect(),
        };
        match self.rpc(walk.into()).await {
            Ok(Message::Rwalk(r)) if r.wqids.len() == usize::from(name.is_some()) => {
                let qid = r.wqids.last().copied().unwrap_or(fid.qid);
                Ok(CFid::new(newfid, qid))
            }
            other => {
                self.put_fid(newfid);
                Err(format!("walk {name:?}: {other:?}"))
            }
        }
    }

    /// fsfopen.
    pub async fn open(&self, fid: &mut CFid, mode: u8) -> Reply<()> {
        match self.rpc(Topen { fid: fid.fid, mode }.into()).await? {
            Message::Ropen(r) => {
                fid.qid = r.qid;
                Ok(())
            }
            other => Err(format!("Topen: {other:?}")),
        }
    }

    /// fsdirfstat.
    pub async fn stat(&self, fid: &CFid) -> Reply<Stat> {
        match self.rpc(Tstat { fid: fid.fid }.into()).await? {
            Message::Rstat(r) => Ok(r.stat),
            other => Err(format!("Tstat: {other:?}")),
        }
    }

    /// fspread: at most `n` bytes at `offset`, capped at msize - IOHDRSZ.
    pub async fn pread(&self, fid: &CFid, n: u32, offset: u64) -> Reply<Vec<u8>> {
        let count = n.min(self.msize - IOHDRSZ);
        let read = Tread {
            fid: fid.fid,
            offset,
            count,
        };
        match self.rpc(read.into()).await? {
            Message::Rread(r) => Ok(r.data),
            other => Err(format!("Tread: {other:?}")),
        }
    }

    /// fsdirread: the entries of one read at the fid's running offset.
    pub async fn dirread(&self, fid: &CFid) -> Reply<Vec<Stat>> {
        let offset = *fid.offset.lock().unwrap();
        let data = self.pread(fid, self.msize, offset).await?;
        *fid.offset.lock().unwrap() += data.len() as u64;
        Stat::decode_dir(&data).map_err(|e| e.to_string())
    }

    /// fsseek(fid, 0, 0).
    pub fn rewind(&self, fid: &CFid) {
        *fid.offset.lock().unwrap() = 0;
    }

    /// fsclose: Tclunk, and the number is free again once it is answered
    /// (whatever the answer).
    pub async fn close(&self, fid: CFid) -> Reply<()> {
        let r = self.rpc(Tclunk { fid: fid.fid }.into()).await;
        self.put_fid(fid.fid);
        r.map(|_| ())
    }

    fn put_fid(&self, fid: u32) {
        self.fids.lock().unwrap().free.push(fid);
    }
}

impl CFid {
    fn new(fid: u32, qid: Qid) -> CFid {
        CFid {
            fid,
            qid,
            offset: Mutex::new(0),
        }
    }
}
