from lmdeploy import turbomind as tm

# load model
model_path = "~/.cache/lmdeploy/SmolLM2-135M-Instruct.Q4_1.gguf"
tm_model = tm.TurboMind.from_pretrained(model_path, model_name='smollm2')
generator = tm_model.create_instance()

# process query
query = "你好啊兄嘚"
prompt = tm_model.model.get_prompt(query)
input_ids = tm_model.tokenizer.encode(prompt)

# inference
for outputs in generator.stream_infer(
        session_id=0,
        input_ids=[input_ids]):
    res, tokens = outputs[0]

response = tm_model.tokenizer.decode(res.tolist())
print(response)
