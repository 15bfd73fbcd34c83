UPDATE orders SET total_big = total WHERE total_big IS NULL;
