//! One request, answered for one user from a [`Colony`].

use crate::colony::{Colony, EnvRuntime};
use crate::error::Result;
use crate::rpc::{NameInfo, Request, Response};
use crate::user::UserName;

/// Runs `request` as `user`. Every failure becomes [`Response::Error`]
/// with the error's message, which is written for the user.
pub async fn answer<R: EnvRuntime>(
    colony: &Colony<R>,
    user: &UserName,
    request: Request,
) -> Response {
    let what = request.to_string();
    match run(colony, user, request).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(%user, request = %what, "refused: {e}");
            Response::Error(e.to_string())
        }
    }
}

async fn run<R: EnvRuntime>(
    colony: &Colony<R>,
    user: &UserName,
    request: Request,
) -> Result<Response> {
    Ok(match request {
        Request::Scores { filter } => Response::Names(
            colony
                .scores(user, filter.as_deref())?
                .iter()
                .map(NameInfo::of)
                .collect(),
        ),
        Request::Spawn { name, disk } => Response::Spawned(colony.spawn(user, &name, disk).await?),
        Request::Save { env, label } => {
            Response::Saved(NameInfo::of(&colony.save(user, &env, &label).await?))
        }
        Request::Invite { user: invitee, env } => {
            let invitee = UserName::new(&invitee)?;
            let record = colony.invite(user, &invitee, &env).await?;
            Response::Invited {
                user: invitee.to_string(),
                name: NameInfo::of(&record),
            }
        }
        Request::Status => Response::Status {
            user: user.to_string(),
            envs: colony.status(user)?,
        },
        Request::Boom { env } => {
            colony.boom(user, &env).await?;
            Response::Boomed(env)
        }
    })
}
