//! The LLM chat (seed 000's `/chat` routes and the console's Chat tab): questions about a parity
//! run asked of the local Ollama model with the run as context, a deterministic fallback when
//! the model cannot answer, and fixes that apply only by grant.

/// `[chat]`: which model the console picks first, Ollama's deadlines, generations at once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// The console's model to start with; unset: the first chat-capable model Ollama lists.
    pub model: Option<String>,
    pub connect_timeout_s: u64,
    /// From the request to the first streamed line of the answer.
    pub first_chunk_timeout_s: u64,
    /// Between two lines of the answer.
    pub idle_timeout_s: u64,
    /// The whole answer.
    pub total_timeout_s: u64,
    /// Generations at once; the rest wait their turn.
    pub concurrency: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            model: None,
            connect_timeout_s: 3,
            first_chunk_timeout_s: 60,
            idle_timeout_s: 60,
            total_timeout_s: 600,
            concurrency: 2,
        }
    }
}

impl ChatConfig {
    pub fn timeouts(&self) -> crate::services::ollama::Timeouts {
        use std::time::Duration;
        crate::services::ollama::Timeouts {
            connect: Duration::from_secs(self.connect_timeout_s),
            first_chunk: Duration::from_secs(self.first_chunk_timeout_s),
            idle: Duration::from_secs(self.idle_timeout_s),
            total: Duration::from_secs(self.total_timeout_s),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if [
            self.connect_timeout_s,
            self.first_chunk_timeout_s,
            self.idle_timeout_s,
            self.total_timeout_s,
        ]
        .contains(&0)
            || self.concurrency == 0
        {
            anyhow::bail!("chat: every *_timeout_s and concurrency must be positive");
        }
        Ok(())
    }
}
