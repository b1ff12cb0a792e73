//! The output methods of the families without tools (Llama, Mistral's prompt format).

/// The request side of a family without tools (Llama, Mistral's prompt format): JsonInPrompt
/// only, through the adapter's own `prepare_model_input`/`write_input_line` with the tool (which
/// put the schema in the prompt).
macro_rules! prompt_only_writer {
    () => {
        /// The schema goes in the prompt: the family has no tools.
        fn strategies(&self) -> &'static [OutputStrategy] {
            &[OutputStrategy::JsonInPrompt]
        }

        fn prepare_output(
            &self,
            input: &ModelInput,
            output: OutputRequest<'_>,
        ) -> Result<Value, Error> {
            match output.strategy {
                OutputStrategy::JsonInPrompt => self.prepare_model_input(input, Some(output.sent)),
                other => Err(super::body::unwritten(self.name(), other)),
            }
        }

        fn write_output_line(
            &self,
            record_id: &str,
            input: &ModelInput,
            output: OutputRequest<'_>,
            out: &mut Vec<u8>,
        ) -> Result<(), Error> {
            match output.strategy {
                OutputStrategy::JsonInPrompt => {
                    self.write_input_line(record_id, input, Some(output.sent), out)
                }
                other => Err(super::body::unwritten(self.name(), other)),
            }
        }
    };
}

/// The answer side of a family without tools: the JSON is found in the text, by the adapter's
/// `validate_result`, under every strategy.
macro_rules! prompt_only_reader {
    () => {
        fn read_output(
            &self,
            model_output: &Value,
            output: OutputRequest<'_>,
        ) -> Result<Value, RecordError> {
            self.validate_result(model_output, output.tool)
        }
    };
}
