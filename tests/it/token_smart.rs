// token_smart
