//! A connection's shell request: attach (scrollback, then live output,
//! the client's input to the shell), list or kill.

use super::Shells;
use super::shell::{CHUNK, Piece, Shell};
use crate::cpu::frames::{ClientFrame, SHELLS_VERSION, ServerFrame, ShellAnswer, ShellRequest};
use crate::cpu::server::{Reader, Writer, fail, send};
use crate::session::{Session, WindowSize};
use crate::{Error, Result};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Answers `request` (of shells version `version`) on one connection.
pub(in crate::cpu) async fn serve<S: Session>(
    shells: &Arc<Shells>,
    session: &S,
    version: u16,
    request: ShellRequest,
    rd: Reader,
    mut wr: Writer,
) -> Result<()> {
    if version != SHELLS_VERSION {
        let e = Error::ShellsVersion {
            asked: version,
            spoken: SHELLS_VERSION,
        };
        return fail(&mut wr, e).await;
    }
    let restored = shells.restored();
    let answer = match request {
        ShellRequest::Attach {
            label,
            term,
            size,
            command,
        } => match shells.open(session, &label, &term, size, command).await {
            Ok((shell, started)) => {
                let attached = ShellAnswer::Attached { started, restored };
                return watch(shell, attached, size, rd, wr).await;
            }
            Err(e) => Err(e),
        },
        ShellRequest::List => Ok(ShellAnswer::List {
            shells: shells.list().await,
            restored,
        }),
        ShellRequest::Kill { label } => shells.kill(&label).await.map(|()| ShellAnswer::Killed),
    };
    match answer {
        Ok(answer) => {
            send(&mut wr, &ServerFrame::Shells(answer)).await?;
            wr.shutdown().await?;
            Ok(())
        }
        Err(e) => fail(&mut wr, e).await,
    }
}

/// Relays between `shell` and an attached client until the shell ends or
/// the client goes (detaching).
async fn watch(
    shell: Arc<Shell>,
    attached: ShellAnswer,
    size: WindowSize,
    rd: Reader,
    mut wr: Writer,
) -> Result<()> {
    // The terminal takes the size of the client that came last.
    shell.resize(size)?;
    let (scrollback, mut client) = match shell.join() {
        Ok(joined) => joined,
        Err(e) => return fail(&mut wr, e).await,
    };
    send(&mut wr, &ServerFrame::Shells(attached)).await?;
    for piece in scrollback.chunks(CHUNK) {
        send(&mut wr, &ServerFrame::Stdout(piece.to_vec())).await?;
    }
    let mut input = tokio::spawn(input(rd, shell.clone()));
    let last = loop {
        tokio::select! {
            piece = client.recv() => match piece {
                Some(Piece::Bytes(chunk)) => {
                    send(&mut wr, &ServerFrame::Stdout(chunk.to_vec())).await?;
                }
                Some(Piece::Skipped(bytes)) => {
                    let skipped = ShellAnswer::Skipped { bytes };
                    send(&mut wr, &ServerFrame::Shells(skipped)).await?;
                }
                // The status is set before the clients go.
                None => break shell.exit_status().map_or_else(
                    || ServerFrame::Error("the shell ended".into()),
                    ServerFrame::Exit,
                ),
            },
            // The client went: detached, the shell carries on.
            _ = &mut input => return Ok(()),
        }
    };
    input.abort();
    send(&mut wr, &last).await?;
    wr.shutdown().await?;
    Ok(())
}

/// Applies the client's frames to the shell until the client goes.
async fn input(mut rd: Reader, shell: Arc<Shell>) {
    loop {
        match crate::frame::read::<ClientFrame, _>(&mut rd).await {
            Ok(Some(ClientFrame::Stdin(bytes))) => {
                if shell.write(&bytes).await.is_err() {
                    return;
                }
            }
            Ok(Some(ClientFrame::Resize(size))) => {
                let _ = shell.resize(size);
            }
            Ok(Some(ClientFrame::Signal(n))) => shell.signal(n),
            // A terminal's input has no end (^D is a byte like others),
            // and a second request on one connection is ignored.
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}
