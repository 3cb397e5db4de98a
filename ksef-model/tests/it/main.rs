mod generated_dispatch;
